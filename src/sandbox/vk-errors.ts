// VK API error codes, their texts as VK words them, and the error envelope.

import type { JsonObject } from './types.ts';

/** error_msg texts from VK's errors.json (as copied into vk-io's APIErrorCode docs). */
const VK_ERROR_TEXTS: ReadonlyMap<number, string> = new Map([
  [1, 'Unknown error occurred'],
  [2, 'Application is disabled. Enable your application or use test mode'],
  [3, 'Unknown method passed'],
  [4, 'Incorrect signature'],
  [5, 'User authorization failed: invalid access_token (4).'],
  [6, 'Too many requests per second'],
  [7, 'Permission to perform this action is denied'],
  [8, 'Invalid request'],
  [9, 'Flood control: too much messages sent to user'],
  [10, 'Internal server error'],
  [11, 'In test mode application should be disabled or user should be authorized'],
  [14, 'Captcha needed'],
  [15, 'Access denied'],
  [16, 'HTTP authorization failed'],
  [17, 'Validation required'],
  [18, 'User was deleted or banned'],
  [27, 'Group authorization failed: method is unavailable with group auth.'],
  [28, 'Application authorization failed'],
  [29, 'Rate limit reached'],
  [30, 'This profile is private'],
  [100, 'One of the parameters specified was missing or invalid'],
  [113, 'Invalid user id'],
  [900, "Can't send messages for users from blacklist"],
  [901, "Can't send messages for users without permission"],
  [902, "Can't send messages to this user due to their privacy settings"],
  [911, 'Keyboard format is invalid'],
  [912, 'This is a chat bot feature, change this status in settings'],
  [913, 'Too many forwarded messages'],
  [914, 'Message is too long'],
  [917, "You don't have access to this chat"],
  [921, "Can't forward these messages"],
  [936, 'Contact not found'],
  [940, 'Too many posts in messages'],
  [945, 'Chat was disabled'],
  [946, 'Chat not supported'],
  [950, "Can't send message, reply timed out"],
]);

export function vkErrorText(code: number): string {
  return VK_ERROR_TEXTS.get(code) ?? 'Unknown error occurred';
}

/** Thrown by method handlers; server code turns it into VK's error envelope. */
export class VkApiError extends Error {
  readonly code: number;
  /** Extra fields VK adds for some codes (captcha_sid, redirect_uri...). */
  readonly extra: JsonObject;

  constructor(code: number, detail?: string, extra: JsonObject = {}) {
    // VK appends the parameter problem after a colon: "...missing or invalid: peer_id is undefined".
    super(detail === undefined ? vkErrorText(code) : `${vkErrorText(code)}: ${detail}`);
    this.name = 'VkApiError';
    this.code = code;
    this.extra = extra;
  }

  /** An error with a text of the caller's choosing (a scheduled fault's error_msg). */
  static withText(code: number, text: string, extra: JsonObject = {}): VkApiError {
    const error = new VkApiError(code, undefined, extra);
    error.message = text;
    return error;
  }
}

/** Extra fields a code needs so clients that branch on them find them (vk-io's captcha flow). */
export function extraFieldsFor(code: number): JsonObject {
  if (code === 14) {
    return { captcha_sid: '000000000001', captcha_img: 'https://api.vk.ru/captcha.php?sid=000000000001' };
  }
  if (code === 17) return { redirect_uri: 'https://id.vk.ru/validate' };
  return {};
}

/**
 * VK echoes the request without the token: method, oauth, v first, then the call's own params
 * (a call without a token gets only its own params, samples/error_15_no_token.json).
 * The token is never echoed, so it can't leak into logs that store envelopes.
 */
export function vkErrorEnvelope(
  error: VkApiError,
  method: string,
  params: ReadonlyMap<string, string>,
): JsonObject {
  const requestParams: JsonObject[] = [];
  const authenticated = params.has('access_token');
  if (authenticated) {
    requestParams.push({ key: 'method', value: method }, { key: 'oauth', value: '1' });
    const version = params.get('v');
    if (version !== undefined) requestParams.push({ key: 'v', value: version });
  }
  for (const [key, value] of params) {
    if (key === 'access_token' || (authenticated && key === 'v')) continue;
    requestParams.push({ key, value });
  }
  return {
    error: { error_code: error.code, error_msg: error.message, request_params: requestParams, ...error.extra },
  };
}
