/**
 * gRPC plumbing shared by every server and client: serving with health,
 * mapping errors to statuses in one place, and promisified unary calls with
 * a deadline on every call.
 */

import {
  type ChannelCredentials,
  type Client,
  Metadata,
  Server,
  type ServerCredentials,
  type ServerUnaryCall,
  type ServiceDefinition,
  type ServiceError,
  status as GrpcStatus,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { AppError, ERROR_CODES, httpCodeForGrpcStatus, isErrorCode } from "./errors.ts";
import type { Logger } from "./log.ts";
import { HealthCheckResponse_ServingStatus as ServingStatus, HealthService } from "./gen/grpc/health/v1/health.ts";
import { deferHttp2Goaway } from "./_http2_goaway.ts";

// Every program that talks gRPC loads this module, so the runtime workaround is installed before any channel opens.
deferHttp2Goaway();

/** Metadata key carrying the stable SecurePay error code of a failed call. */
export const ERROR_CODE_METADATA = "securepay-error-code";
/** Metadata key carrying field issues of a validation error, as JSON. */
export const ERROR_ISSUES_METADATA = "securepay-error-issues";
/** Metadata key carrying the request id across services. */
export const REQUEST_ID_METADATA = "x-request-id";
/** What a request id may look like; anything else is replaced. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

export interface HandlerContext {
  readonly metadata: Metadata;
  readonly requestId: string;
  readonly logger: Logger;
  readonly call: ServerUnaryCall<unknown, unknown>;
}

export type UnaryHandler<Req, Res> = (request: Req, context: HandlerContext) => Promise<Res>;

/**
 * Wraps a promise-returning handler as a grpc-js unary handler. AppErrors
 * become their status with the code in trailing metadata; anything else is
 * logged and answered INTERNAL without details.
 */
export function unary<Req, Res>(
  method: string,
  logger: Logger,
  handler: UnaryHandler<Req, Res>,
): (call: ServerUnaryCall<Req, Res>, callback: (error: Partial<ServiceError> | null, value?: Res) => void) => void {
  return (call, callback) => {
    const offered = firstMetadata(call.metadata, REQUEST_ID_METADATA);
    // A request id is only echoed into logs when it is short and plain.
    const requestId = offered && REQUEST_ID_PATTERN.test(offered) ? offered : crypto.randomUUID();
    const log = logger.with({ request_id: requestId, rpc: method });
    const context: HandlerContext = {
      metadata: call.metadata,
      requestId,
      logger: log,
      call: call as ServerUnaryCall<unknown, unknown>,
    };
    // An async wrapper turns a synchronous throw into a rejection, so no
    // handler can bypass the error mapping.
    (async () => await handler(call.request, context))().then(
      (response) => callback(null, response),
      (error) => callback(toServiceError(error, log)),
    );
  };
}

export function toServiceError(error: unknown, logger: Logger): Partial<ServiceError> {
  const metadata = new Metadata();
  if (error instanceof AppError) {
    metadata.set(ERROR_CODE_METADATA, error.code);
    if (error.issues.length > 0) metadata.set(ERROR_ISSUES_METADATA, JSON.stringify(error.issues).slice(0, 4096));
    if (error.code === "internal") logger.error("request failed", { error });
    return { code: error.grpcStatus, details: error.message, metadata };
  }
  logger.error("request failed", { error });
  metadata.set(ERROR_CODE_METADATA, "internal");
  return { code: GrpcStatus.INTERNAL, details: "internal error", metadata };
}

/** Turns a failed call back into the AppError the server meant. */
export function fromServiceError(error: unknown): AppError {
  const e = error as Partial<ServiceError>;
  if (typeof e?.code !== "number") {
    return new AppError("internal", "internal error", { cause: error });
  }
  const code = e.metadata ? firstMetadata(e.metadata, ERROR_CODE_METADATA) : undefined;
  if (isErrorCode(code)) {
    let issues;
    try {
      const raw = e.metadata && firstMetadata(e.metadata, ERROR_ISSUES_METADATA);
      issues = raw ? JSON.parse(raw) : undefined;
    } catch {
      issues = undefined;
    }
    // Internal details of another service never travel on to the caller.
    const message = code === "internal" ? "internal error" : (e.details ?? ERROR_CODES[code].title);
    return new AppError(code, message, { issues, cause: error });
  }
  const mapped = httpCodeForGrpcStatus(e.code);
  const message = mapped === "upstream_unavailable" ? "a downstream service is unavailable" : ERROR_CODES[mapped].title;
  return new AppError(mapped, message, { cause: error });
}

function firstMetadata(metadata: Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  return typeof value === "string" ? value : value?.toString("utf8");
}

export interface GrpcServiceBinding {
  // deno-lint-ignore no-explicit-any
  readonly definition: ServiceDefinition<any>;
  readonly implementation: UntypedServiceImplementation;
}

export interface GrpcServer extends AsyncDisposable {
  readonly port: number;
  /** Marks the server NOT_SERVING in health checks, for draining. */
  setServing(serving: boolean): void;
  close(): Promise<void>;
}

export interface ServeGrpcOptions {
  host: string;
  port: number;
  credentials: ServerCredentials;
  services: readonly GrpcServiceBinding[];
  logger: Logger;
  /** Names reported by grpc.health.v1 (the empty name is always reported). */
  healthNames?: readonly string[];
  /** How long close() lets in-flight calls finish before cutting them. */
  drainMs?: number;
}

/** Binds a gRPC server with grpc.health.v1 and the given services. */
export async function serveGrpc(options: ServeGrpcOptions): Promise<GrpcServer> {
  const server = new Server({
    "grpc.max_receive_message_length": 4 * 1024 * 1024,
    "grpc.max_concurrent_streams": 1000,
    "grpc.keepalive_time_ms": 60_000,
  });
  let serving = true;
  const names = new Set(["", ...(options.healthNames ?? [])]);
  server.addService(HealthService, {
    check: (call: ServerUnaryCall<{ service: string }, unknown>, callback: (e: unknown, v?: unknown) => void) => {
      if (!names.has(call.request.service)) {
        callback({ code: GrpcStatus.NOT_FOUND, details: "unknown service" });
        return;
      }
      callback(null, { status: serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING });
    },
    watch: (call: { write: (v: unknown) => void; end: () => void }) => {
      // Watch streams the current status once; callers poll Check for changes.
      call.write({ status: serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING });
      call.end();
    },
  } as unknown as UntypedServiceImplementation);
  for (const service of options.services) server.addService(service.definition, service.implementation);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${options.host}:${options.port}`, options.credentials, (error, bound) => {
      if (error) {
        reject(
          new Error(`Cannot listen for gRPC as binding failed: ${options.host}:${options.port}`, { cause: error }),
        );
      } else resolve(bound);
    });
  });
  options.logger.info("grpc listening", { address: `${options.host}:${port}` });

  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= new Promise<void>((resolve) => {
      serving = false;
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, options.drainMs ?? 5_000);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return closed;
  };
  return {
    port,
    setServing(value) {
      serving = value;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

export interface CallOptions {
  /** Every call has a deadline; 5 s unless said otherwise. */
  deadlineMs?: number;
  metadata?: Metadata;
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: { deadline: Date },
  callback: (error: ServiceError | null, response: Res) => void,
) => unknown;

/**
 * Calls a unary method of a generated client with a deadline and returns
 * its response, or throws the AppError the server meant.
 */
export function callUnary<C extends Client, Req, Res>(
  client: C,
  method: (this: C, ...args: Parameters<UnaryMethod<Req, Res>>) => unknown,
  request: Req,
  options: CallOptions = {},
): Promise<Res> {
  const deadline = new Date(Date.now() + (options.deadlineMs ?? 5_000));
  return new Promise<Res>((resolve, reject) => {
    method.call(client, request, options.metadata ?? new Metadata(), { deadline }, (error, response) => {
      if (error) reject(fromServiceError(error));
      else resolve(response);
    });
  });
}

export type { ChannelCredentials };
