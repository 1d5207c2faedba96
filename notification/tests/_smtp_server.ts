/**
 * A real SMTP server for tests: Debian's python3-aiosmtpd, storing what it
 * receives in a Maildir that the test reads back. Missing aiosmtpd fails
 * the test with the command that installs it; it is never skipped.
 */

import { freePort } from "@securepay/shared/testing";

export interface ReceivedMail {
  /** Header names in lower case; folded lines joined. */
  readonly headers: Readonly<Record<string, string>>;
  /** The envelope recipient, as aiosmtpd recorded it. */
  readonly rcptTo: string;
  readonly mailFrom: string;
  /** The decoded plain-text body. */
  readonly text: string;
}

export interface TestSmtpServer extends AsyncDisposable {
  readonly hostname: string;
  readonly port: number;
  /** Every message received so far, oldest first. */
  messages(): Promise<ReceivedMail[]>;
  output(): string;
}

const PYTHON = "/usr/bin/python3";
const START_TIMEOUT_MS = 15_000;

async function requireAiosmtpd(): Promise<void> {
  let ok = false;
  try {
    const probe = await new Deno.Command(PYTHON, { args: ["-c", "import aiosmtpd"], stdout: "null", stderr: "null" })
      .output();
    ok = probe.success;
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new Error(
      "Cannot run the SMTP tests as python3-aiosmtpd is missing: install it with `apt-get install -y python3-aiosmtpd` " +
        "(.ci/run does so)",
    );
  }
}

export async function startSmtpServer(): Promise<TestSmtpServer> {
  await requireAiosmtpd();
  const maildir = await Deno.makeTempDir({ prefix: "securepay-smtp-" });
  // Python's Maildir creates its folders only when the directory itself is new.
  for (const folder of ["tmp", "new", "cur"]) await Deno.mkdir(`${maildir}/${folder}`);
  const port = freePort();
  const child = new Deno.Command(PYTHON, {
    args: ["-m", "aiosmtpd", "-n", "-l", `127.0.0.1:${port}`, "-c", "aiosmtpd.handlers.Mailbox", maildir],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) output = (output + chunk).slice(-20_000);
  };
  const drained = Promise.all([collect(child.stdout), collect(child.stderr)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async () => {
    if (!exited) child.kill("SIGTERM");
    await status;
    await drained;
    await Deno.remove(maildir, { recursive: true });
  };

  try {
    await waitForGreeting(port, () => exited, () => output);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    hostname: "127.0.0.1",
    port,
    output: () => output,
    async messages() {
      const found: { name: string; text: string }[] = [];
      for (const folder of ["new", "cur"]) {
        try {
          for await (const entry of Deno.readDir(`${maildir}/${folder}`)) {
            if (entry.isFile) {
              found.push({ name: entry.name, text: await Deno.readTextFile(`${maildir}/${folder}/${entry.name}`) });
            }
          }
        } catch (error) {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        }
      }
      // Python's Maildir names each message "<seconds>.M<micros>P<pid>Q<counter>…"; one server, one counter.
      const counter = (name: string) => Number(/Q(\d+)/.exec(name)?.[1] ?? 0);
      found.sort((a, b) => counter(a.name) - counter(b.name));
      return found.map((f) => parseMail(f.text));
    },
    [Symbol.asyncDispose]: stop,
  };
}

async function waitForGreeting(port: number, exited: () => boolean, output: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (true) {
    if (exited()) throw new Error(`Cannot start aiosmtpd as it exited:\n${output()}`);
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        const buffer = new Uint8Array(512);
        const n = await conn.read(buffer);
        if (n !== null && new TextDecoder().decode(buffer.subarray(0, n)).startsWith("220")) {
          await conn.write(new TextEncoder().encode("QUIT\r\n"));
          return;
        }
      } finally {
        conn.close();
      }
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      throw new Error(`Cannot start aiosmtpd as it did not answer within ${START_TIMEOUT_MS} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Parses what the Maildir holds: headers, a blank line, a base64 or plain body. */
export function parseMail(raw: string): ReceivedMail {
  const text = raw.replace(/\r\n/g, "\n");
  const split = text.indexOf("\n\n");
  const head = split < 0 ? text : text.slice(0, split);
  const body = split < 0 ? "" : text.slice(split + 2);
  const headers: Record<string, string> = {};
  let last = "";
  for (const line of head.split("\n")) {
    if (/^[ \t]/.test(line) && last) {
      headers[last] += line.replace(/^[ \t]+/, " ");
      continue;
    }
    const colon = line.indexOf(":");
    last = line.slice(0, colon).toLowerCase();
    headers[last] = line.slice(colon + 1).trim();
  }
  const decoded = headers["content-transfer-encoding"]?.toLowerCase() === "base64"
    ? new TextDecoder().decode(Uint8Array.from(atob(body.replace(/\s+/g, "")), (c) => c.charCodeAt(0)))
    : body;
  return {
    headers,
    rcptTo: headers["x-rcptto"] ?? "",
    mailFrom: headers["x-mailfrom"] ?? "",
    text: decoded.replace(/\r\n/g, "\n"),
  };
}

/** Decodes RFC 2047 UTF-8 base64 encoded words, as a mail reader shows the subject. */
export function decodeHeaderText(value: string): string {
  return value.replace(
    /=\?UTF-8\?B\?([^?]*)\?=\s*/gi,
    (_, b64: string) => new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))),
  ).trim();
}
