// One VK API request end to end: params, token, scheduled faults, the method, the envelope, the log.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { Params, type MethodHandler } from './api-methods.ts';
import { CallLog } from './call-log.ts';
import type { FaultSchedule } from './faults.ts';
import { parseParams, readBody, sendJson, sendText } from './http-io.ts';
import type { TimerSet } from './lifecycle.ts';
import type { Json, SandboxEnv } from './types.ts';
import { extraFieldsFor, VkApiError, vkErrorEnvelope } from './vk-errors.ts';

/** API bodies are form fields, never media; anything bigger is a client bug. */
const API_BODY_LIMIT = 16 * 1024 * 1024;

export class ApiEndpoint {
  constructor(
    private readonly env: SandboxEnv,
    private readonly methods: ReadonlyMap<string, MethodHandler>,
    private readonly faults: FaultSchedule,
    private readonly callLog: CallLog,
    private readonly timers: TimerSet,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse, method: string, url: URL): Promise<void> {
    const body = await readBody(req, API_BODY_LIMIT);
    const params = parseParams(url, req.headers['content-type'], body);
    // dev.vk.com: the token may come as "Authorization: Bearer ..." instead of a param.
    const authorization = req.headers.authorization;
    if (!params.has('access_token') && authorization !== undefined && /^Bearer\s+/i.test(authorization)) {
      params.set('access_token', authorization.replace(/^Bearer\s+/i, ''));
    }
    const entry = this.callLog.begin(this.env.now(), method, params);

    const taken = this.faults.takeApi(method);
    if (taken !== null) {
      entry.fault = taken.id;
      const { fault } = taken;
      // A slow answer: the call still happens afterwards, as when VK processes a request late.
      if (fault.delayMs !== undefined) await this.timers.sleep(fault.delayMs);
      if (fault.httpStatus !== undefined) {
        const text = `sandbox fault: HTTP ${fault.httpStatus}`;
        CallLog.finish(entry, fault.httpStatus, { error: text });
        // Not JSON, like a proxy in front of VK: vk-io's json() fails and it retries.
        sendText(res, fault.httpStatus, 'text/html; charset=utf-8', `<html><body><h1>${text}</h1></body></html>`);
        return;
      }
      if (fault.errorCode !== undefined) {
        const extra = extraFieldsFor(fault.errorCode);
        const error =
          fault.errorMsg === undefined
            ? new VkApiError(fault.errorCode, undefined, extra)
            : VkApiError.withText(fault.errorCode, fault.errorMsg, extra);
        const envelope = vkErrorEnvelope(error, method, params);
        CallLog.finish(entry, 200, { error: envelope['error'] as Json });
        sendJson(res, 200, envelope);
        return;
      }
    }

    let envelope: { response: Json } | { error: Json };
    try {
      envelope = { response: await this.perform(method, params) };
      CallLog.finish(entry, 200, { response: envelope.response });
    } catch (error) {
      // A bug in the sandbox reaches the client the way VK reports its own: error 10.
      const vkError = error instanceof VkApiError ? error : new VkApiError(10);
      if (!(error instanceof VkApiError)) {
        this.env.log(`[sandbox] ${method} failed inside the sandbox: ${error instanceof Error ? error.stack : String(error)}`);
      }
      const full = vkErrorEnvelope(vkError, method, params);
      envelope = { error: full['error'] as Json };
      CallLog.finish(entry, 200, { error: envelope.error });
    }
    // VK answers API errors with HTTP 200 and the error in the body.
    sendJson(res, 200, envelope);
  }

  private async perform(method: string, params: Map<string, string>): Promise<Json> {
    const token = params.get('access_token');
    if (token === undefined) throw new VkApiError(15, 'token required');
    if (token.trim() === '') throw new VkApiError(5);
    if (!params.has('v')) throw new VkApiError(8, 'v (version) is required');
    const handler = this.methods.get(method);
    if (handler === undefined) throw new VkApiError(3);
    return handler(new Params(params));
  }
}
