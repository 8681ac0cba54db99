// The sandbox's HTTP server: wiring of its parts, routing by path, and start/close.

import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ApiEndpoint } from './api-endpoint.ts';
import { createApiMethods } from './api-methods.ts';
import { CallLog } from './call-log.ts';
import { FaultSchedule } from './faults.ts';
import { BodyTooLargeError, sendJson } from './http-io.ts';
import { TimerSet } from './lifecycle.ts';
import { LongPoll } from './longpoll.ts';
import { MediaStore } from './photos.ts';
import { SandboxState } from './state.ts';
import type { Sandbox, SandboxEnv, SandboxOptions } from './types.ts';
import { UserApi } from './user-api.ts';

export type { Sandbox, SandboxImages, SandboxOptions } from './types.ts';

/** How long close() lets already-answered responses (emptied long polls) reach the client. */
const FLUSH_ON_CLOSE_MS = 1000;

/** A bad option; thrown by startSandbox before anything listens. */
export class SandboxOptionError extends Error {
  readonly code = 'bad_sandbox_option';
  constructor(message: string) {
    super(message);
    this.name = 'SandboxOptionError';
  }
}

function checkOptions(options: SandboxOptions): void {
  const problems: string[] = [];
  const int = (name: string, value: number | undefined, min: number, max: number): void => {
    if (value !== undefined && (!Number.isInteger(value) || value < min || value > max)) {
      problems.push(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
    }
  };
  int('port', options.port, 0, 65535);
  int('groupId', options.groupId, 1, 1_999_999_999);
  int('longPollMaxWaitMs', options.longPollMaxWaitMs, 0, 600_000);
  int('textLimit', options.textLimit, 1, 1_000_000);
  int('longPollHistory', options.longPollHistory, 1, 10_000_000);
  if (options.images === undefined || typeof options.images.probe !== 'function') {
    problems.push('images must provide probe() and resize()');
  }
  if (problems.length > 0) throw new SandboxOptionError(`bad sandbox options: ${problems.join('; ')}`);
}

function listen(server: http.Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  checkOptions(options);
  const host = options.host ?? '127.0.0.1';
  const sockets = new Set<Socket>();
  const responses = new Set<http.ServerResponse>();
  let route: ((req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>) | undefined;

  const server = http.createServer((req, res) => {
    responses.add(res);
    res.on('close', () => responses.delete(res));
    if (route === undefined) {
      sendJson(res, 503, { error: 'sandbox is starting' });
      return;
    }
    void route(req, res);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  const address = await listen(server, options.port, host);
  const urlHost = address.family === 'IPv6' || host.includes(':') ? `[${address.address}]` : host;
  const baseUrl = `http://${urlHost}:${address.port}`;
  const apiUrl = `${baseUrl}/method`;
  const env: SandboxEnv = {
    baseUrl,
    groupId: options.groupId ?? 1,
    now: options.now ?? Date.now,
    log: options.log ?? (() => {}),
  };

  const timers = new TimerSet();
  const faults = new FaultSchedule();
  const callLog = new CallLog();
  const state = new SandboxState(env);
  const media = new MediaStore(env, options.images, faults, callLog, timers);
  const longPoll = new LongPoll(
    env,
    { maxWaitMs: options.longPollMaxWaitMs ?? 20_000, historyLimit: options.longPollHistory ?? 10_000 },
    faults,
    callLog,
    timers,
  );
  const methods = createApiMethods({ env, state, media, longPoll, textLimit: options.textLimit ?? 4096 });
  const api = new ApiEndpoint(env, methods, faults, callLog, timers);
  const userApi = new UserApi({ env, state, media, longPoll, faults, callLog, apiUrl });

  route = async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', baseUrl);
      const path = url.pathname;
      if (path.startsWith('/method/')) {
        await api.handle(req, res, decodeURIComponent(path.slice('/method/'.length)), url);
        return;
      }
      const poll = /^\/lp\/whp\/([^/]+)$/.exec(path);
      if (poll !== null) {
        longPoll.handle(res, poll[1] as string, url);
        return;
      }
      if (path === '/sandbox' || path.startsWith('/sandbox/')) {
        await userApi.handle(req, res, url);
        return;
      }
      if (await media.serve(req, res, path)) return;
      sendJson(res, 404, { error: `not found: ${path}` });
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        sendJson(res, 413, { error: error.message });
        return;
      }
      env.log(`[sandbox] ${req.method ?? '?'} ${req.url ?? '?'} failed: ${error instanceof Error ? error.stack : String(error)}`);
      if (!res.headersSent) sendJson(res, 500, { error: 'sandbox internal error' });
      else res.destroy();
    }
  };

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      timers.close();
      // Held polls get their empty answer now, so a client loop that is stopping ends cleanly.
      longPoll.close();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      const flushing = [...responses]
        .filter((res) => res.writableEnded && !res.writableFinished)
        .map(
          (res) =>
            new Promise<void>((resolve) => {
              const done = (): void => resolve();
              res.once('finish', done);
              res.once('close', done);
              setTimeout(done, FLUSH_ON_CLOSE_MS).unref?.();
            }),
        );
      await Promise.all(flushing);
      // Keep-alive sockets, stalled downloads and hung polls would keep server.close() waiting forever.
      for (const socket of sockets) socket.destroy();
      await stopped;
    })();
    return closing;
  };

  env.log(`[sandbox] listening at ${baseUrl}, group ${env.groupId}`);
  return { baseUrl, apiUrl, groupId: env.groupId, close };
}
