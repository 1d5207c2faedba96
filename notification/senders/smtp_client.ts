/**
 * A minimal SMTP client (RFC 5321) over `Deno.connect`: one connection per
 * message, EHLO (HELO if refused), MAIL FROM, RCPT TO, DATA with
 * dot-stuffing, QUIT. The whole conversation is bounded by one deadline;
 * replies are bounded in line length and line count.
 *
 * No STARTTLS and no AUTH: it talks to a relay on a trusted network (the
 * dev/test server, or a cluster-local relay that does the TLS onwards).
 * Talking to a public submission server needs both; see the README.
 */

export interface SmtpOptions {
  readonly hostname: string;
  readonly port: number;
  /** Bound on the whole conversation, connect to QUIT. */
  readonly timeoutMs: number;
  /** The name this client gives in EHLO. */
  readonly heloName: string;
}

export interface SmtpEnvelope {
  readonly from: string;
  readonly to: string;
  /** The RFC 5322 message: headers, blank line, body. Line breaks are normalised to CRLF. */
  readonly data: string;
}

/**
 * A failed conversation. `delivered` is "no" when the server certainly did
 * not accept the message, "unknown" when the end of the data was sent but no
 * answer came (it may have been accepted).
 */
export class SmtpError extends Error {
  readonly delivered: "no" | "unknown";
  readonly replyCode: number | undefined;

  constructor(message: string, options: { delivered: "no" | "unknown"; replyCode?: number; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = "SmtpError";
    this.delivered = options.delivered;
    this.replyCode = options.replyCode;
  }
}

interface Reply {
  readonly code: number;
  readonly text: string;
}

const REPLY_LINE_CHARS_MAX = 2_048;
const REPLY_LINES_MAX = 100;
const DATA_CHARS_MAX = 1_000_000;
// An address as this client will put it between angle brackets: no spaces, controls, brackets or quotes.
// deno-lint-ignore no-control-regex
const ADDRESS = /^[^\s<>()[\]\\,;:"\u0000-\u001f\u007f@]{1,64}@[A-Za-z0-9.-]{1,253}$/;

export function isMailAddress(value: string): boolean {
  return value.length <= 254 && ADDRESS.test(value);
}

/** Normalises line breaks to CRLF and doubles a leading dot on every line (RFC 5321 §4.5.2). */
export function dotStuff(data: string): string {
  const lines = data.replace(/\r\n|\r|\n/g, "\n").split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.map((line) => (line.startsWith(".") ? "." + line : line)).join("\r\n") + "\r\n";
}

/** Sends one message; resolves once the server accepted it (250 after DATA). */
export async function sendMail(options: SmtpOptions, envelope: SmtpEnvelope): Promise<void> {
  for (const [name, address] of [["from", envelope.from], ["to", envelope.to]] as const) {
    if (!isMailAddress(address)) throw new TypeError(`Cannot send mail as the ${name} address is not a plain address`);
  }
  if (envelope.data.length > DATA_CHARS_MAX) {
    throw new RangeError(`Cannot send mail as the message exceeds ${DATA_CHARS_MAX} characters`);
  }
  let dataSent = false;
  const fail = (message: string, extra: { replyCode?: number; cause?: unknown } = {}) =>
    new SmtpError(message, { delivered: dataSent ? "unknown" : "no", ...extra });

  let conn: Deno.TcpConn | undefined;
  let timedOut = false;
  const controller = new AbortController();
  // At the deadline the connection is closed under whatever read or write is pending, which then throws.
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
    try {
      conn?.close();
    } catch {
      // Already closed.
    }
  }, options.timeoutMs);
  try {
    try {
      conn = await Deno.connect({ hostname: options.hostname, port: options.port, signal: controller.signal });
    } catch (cause) {
      throw fail(`Cannot send mail as the SMTP server does not answer`, { cause });
    }
    if (timedOut) throw fail(`Cannot send mail as the SMTP conversation took over ${options.timeoutMs} ms`);
    const session = new Session(conn);
    try {
      const expect = async (allowed: readonly number[], step: string): Promise<Reply> => {
        const reply = await session.reply();
        if (!allowed.includes(reply.code)) {
          throw fail(`Cannot send mail as the SMTP server refused ${step}: ${reply.code} ${reply.text.slice(0, 200)}`, {
            replyCode: reply.code,
          });
        }
        return reply;
      };
      await expect([220], "the connection");
      await session.write(`EHLO ${options.heloName}\r\n`);
      const ehlo = await session.reply();
      if (ehlo.code !== 250) {
        await session.write(`HELO ${options.heloName}\r\n`);
        await expect([250], "HELO");
      }
      await session.write(`MAIL FROM:<${envelope.from}>\r\n`);
      await expect([250], "the sender");
      await session.write(`RCPT TO:<${envelope.to}>\r\n`);
      await expect([250, 251], "the recipient");
      await session.write("DATA\r\n");
      await expect([354], "DATA");
      await session.write(dotStuff(envelope.data));
      dataSent = true;
      await session.write(".\r\n");
      const accepted = await session.reply();
      if (accepted.code !== 250) {
        // A reply, even a refusal, settles it: the server did not take the message.
        throw new SmtpError(
          `Cannot send mail as the SMTP server refused the message: ${accepted.code} ${accepted.text.slice(0, 200)}`,
          { delivered: "no", replyCode: accepted.code },
        );
      }
      try {
        await session.write("QUIT\r\n");
        await session.reply();
      } catch {
        // The message is accepted; how the server says goodbye does not matter.
      }
    } catch (error) {
      if (error instanceof SmtpError) throw error;
      if (timedOut) {
        throw fail(`Cannot send mail as the SMTP conversation took over ${options.timeoutMs} ms`, { cause: error });
      }
      throw fail(`Cannot send mail as the SMTP connection failed`, { cause: error });
    }
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch {
      // Closed by the deadline.
    }
  }
}

/** Line-oriented reads and writes on one connection. */
class Session {
  #conn: Deno.Conn;
  #buffer = "";
  #decoder = new TextDecoder();
  #encoder = new TextEncoder();
  #chunk = new Uint8Array(4_096);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async write(text: string): Promise<void> {
    const bytes = this.#encoder.encode(text);
    let written = 0;
    while (written < bytes.length) written += await this.#conn.write(bytes.subarray(written));
  }

  async #line(): Promise<string> {
    while (true) {
      const end = this.#buffer.indexOf("\r\n");
      if (end >= 0) {
        const line = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        return line;
      }
      if (this.#buffer.length > REPLY_LINE_CHARS_MAX) throw new Error("SMTP reply line too long");
      const n = await this.#conn.read(this.#chunk);
      if (n === null) throw new Error("SMTP server closed the connection");
      this.#buffer += this.#decoder.decode(this.#chunk.subarray(0, n), { stream: true });
    }
  }

  /** Reads one reply, joining the lines of a multi-line one ("250-…" … "250 …"). */
  async reply(): Promise<Reply> {
    const texts: string[] = [];
    for (let i = 0; i < REPLY_LINES_MAX; i++) {
      const line = await this.#line();
      const match = /^([2-5]\d\d)([ -]|$)(.*)$/.exec(line);
      if (!match) throw new Error("SMTP reply is malformed");
      texts.push(match[3]!);
      if (match[2] !== "-") return { code: Number(match[1]), text: texts.join(" ") };
    }
    throw new Error(`SMTP reply has over ${REPLY_LINES_MAX} lines`);
  }
}
