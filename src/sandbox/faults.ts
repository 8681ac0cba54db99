// Scheduled faults: the accepted shapes, their validation, and using them up one hit at a time.

import type { JsonObject } from './types.ts';

export interface ApiFault {
  kind: 'api';
  /** Method name, or '*' for any method. */
  method: string;
  errorCode?: number;
  errorMsg?: string;
  httpStatus?: number;
  delayMs?: number;
}

export type LongPollFault =
  | { kind: 'longpoll'; failed: 1 | 2 | 3 }
  | { kind: 'longpoll'; httpStatus: number }
  | { kind: 'longpoll'; hang: true };

export type PhotoFault =
  | { kind: 'photo'; httpStatus: number }
  | { kind: 'photo'; stall: true }
  | { kind: 'photo'; html: true }
  | { kind: 'photo'; redirect: string }
  | { kind: 'photo'; endless: true }
  | { kind: 'photo'; delayMs: number };

export type Fault = ApiFault | LongPollFault | PhotoFault;

/** A fault body the schedule refuses; the message names the offending field. */
export class FaultShapeError extends Error {
  readonly code = 'bad_fault';
  constructor(message: string) {
    super(message);
    this.name = 'FaultShapeError';
  }
}

interface Scheduled {
  id: number;
  fault: Fault;
  count: number;
  remaining: number;
  /** The request as normalised, echoed back by POST and GET. */
  shape: JsonObject;
}

const MAX_DELAY_MS = 600_000;

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function onlyKeys(value: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new FaultShapeError(`unknown field "${key}" in ${where} (allowed: ${allowed.join(', ')})`);
    }
  }
}

function integerIn(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new FaultShapeError(`"${name}" must be an integer from ${min} to ${max}`);
  }
  return value;
}

function isTrue(value: unknown, name: string): true {
  if (value !== true) throw new FaultShapeError(`"${name}" must be true`);
  return true;
}

function parseApiFault(body: Record<string, unknown>): ApiFault {
  onlyKeys(body, ['method', 'error_code', 'error_msg', 'http_status', 'delay_ms', 'count'], 'a method fault');
  const method = body['method'];
  if (typeof method !== 'string' || !(method === '*' || /^[A-Za-z]+\.[A-Za-z]+$/.test(method))) {
    throw new FaultShapeError('"method" must be a VK method name like "messages.send", or "*"');
  }
  const fault: ApiFault = { kind: 'api', method };
  if (body['error_code'] !== undefined) fault.errorCode = integerIn(body['error_code'], 'error_code', 1, 100_000);
  if (body['error_msg'] !== undefined) {
    if (typeof body['error_msg'] !== 'string') throw new FaultShapeError('"error_msg" must be a string');
    if (fault.errorCode === undefined) throw new FaultShapeError('"error_msg" needs "error_code"');
    fault.errorMsg = body['error_msg'];
  }
  if (body['http_status'] !== undefined) fault.httpStatus = integerIn(body['http_status'], 'http_status', 200, 599);
  if (body['delay_ms'] !== undefined) fault.delayMs = integerIn(body['delay_ms'], 'delay_ms', 0, MAX_DELAY_MS);
  if (fault.errorCode !== undefined && fault.httpStatus !== undefined) {
    throw new FaultShapeError('a method fault takes "error_code" or "http_status", not both');
  }
  if (fault.errorCode === undefined && fault.httpStatus === undefined && fault.delayMs === undefined) {
    throw new FaultShapeError('a method fault needs "error_code", "http_status" or "delay_ms"');
  }
  return fault;
}

function exactlyOne(value: Record<string, unknown>, allowed: readonly string[], where: string): string {
  onlyKeys(value, allowed, where);
  const present = allowed.filter((key) => value[key] !== undefined);
  if (present.length !== 1) {
    throw new FaultShapeError(`${where} takes exactly one of ${allowed.join(', ')}`);
  }
  return present[0] as string;
}

function parseLongPollFault(spec: unknown): LongPollFault {
  if (!isRecord(spec)) throw new FaultShapeError('"longpoll" must be an object like {"failed": 2}');
  const key = exactlyOne(spec, ['failed', 'http_status', 'hang'], '"longpoll"');
  if (key === 'failed') {
    const failed = spec['failed'];
    if (failed !== 1 && failed !== 2 && failed !== 3) throw new FaultShapeError('"longpoll.failed" must be 1, 2 or 3');
    return { kind: 'longpoll', failed };
  }
  if (key === 'http_status') {
    return { kind: 'longpoll', httpStatus: integerIn(spec['http_status'], 'longpoll.http_status', 200, 599) };
  }
  return { kind: 'longpoll', hang: isTrue(spec['hang'], 'longpoll.hang') };
}

function parsePhotoFault(spec: unknown): PhotoFault {
  if (!isRecord(spec)) throw new FaultShapeError('"photo" must be an object like {"http_status": 404}');
  const key = exactlyOne(spec, ['http_status', 'stall', 'html', 'redirect', 'endless', 'delay_ms'], '"photo"');
  switch (key) {
    case 'http_status':
      return { kind: 'photo', httpStatus: integerIn(spec['http_status'], 'photo.http_status', 400, 599) };
    case 'stall':
      return { kind: 'photo', stall: isTrue(spec['stall'], 'photo.stall') };
    case 'html':
      return { kind: 'photo', html: isTrue(spec['html'], 'photo.html') };
    case 'endless':
      return { kind: 'photo', endless: isTrue(spec['endless'], 'photo.endless') };
    case 'delay_ms':
      return { kind: 'photo', delayMs: integerIn(spec['delay_ms'], 'photo.delay_ms', 0, MAX_DELAY_MS) };
    default: {
      const target = spec['redirect'];
      if (typeof target !== 'string' || !/^https?:\/\/[^\s]+$/.test(target)) {
        throw new FaultShapeError('"photo.redirect" must be an http(s) URL');
      }
      return { kind: 'photo', redirect: target };
    }
  }
}

/** Validates one POST /sandbox/faults body. */
export function parseFault(body: unknown): { fault: Fault; count: number } {
  if (!isRecord(body)) throw new FaultShapeError('a fault must be a JSON object');
  const targets = ['method', 'longpoll', 'photo'].filter((key) => body[key] !== undefined);
  if (targets.length !== 1) {
    throw new FaultShapeError('a fault names exactly one of "method", "longpoll" or "photo"');
  }
  const count = body['count'] === undefined ? 1 : integerIn(body['count'], 'count', 1, 1_000_000);
  if (targets[0] === 'method') return { fault: parseApiFault(body), count };
  onlyKeys(body, [targets[0] as string, 'count'], `a ${targets[0]} fault`);
  const fault = targets[0] === 'longpoll' ? parseLongPollFault(body['longpoll']) : parsePhotoFault(body['photo']);
  return { fault, count };
}

function shapeOf(fault: Fault): JsonObject {
  switch (fault.kind) {
    case 'api':
      return {
        method: fault.method,
        error_code: fault.errorCode,
        error_msg: fault.errorMsg,
        http_status: fault.httpStatus,
        delay_ms: fault.delayMs,
      };
    case 'longpoll':
      return {
        longpoll: {
          failed: 'failed' in fault ? fault.failed : undefined,
          http_status: 'httpStatus' in fault ? fault.httpStatus : undefined,
          hang: 'hang' in fault ? true : undefined,
        },
      };
    case 'photo':
      return {
        photo: {
          http_status: 'httpStatus' in fault ? fault.httpStatus : undefined,
          stall: 'stall' in fault ? true : undefined,
          html: 'html' in fault ? true : undefined,
          redirect: 'redirect' in fault ? fault.redirect : undefined,
          endless: 'endless' in fault ? true : undefined,
          delay_ms: 'delayMs' in fault ? fault.delayMs : undefined,
        },
      };
  }
}

/** Faults in the order they were scheduled; the oldest matching one is used first. */
export class FaultSchedule {
  private readonly items: Scheduled[] = [];
  private nextId = 1;

  add(body: unknown): JsonObject {
    const { fault, count } = parseFault(body);
    const item: Scheduled = { id: this.nextId++, fault, count, remaining: count, shape: shapeOf(fault) };
    this.items.push(item);
    return this.describe(item);
  }

  list(): JsonObject[] {
    return this.items.map((item) => this.describe(item));
  }

  clear(): void {
    this.items.length = 0;
  }

  remove(id: number): boolean {
    const index = this.items.findIndex((item) => item.id === id);
    if (index < 0) return false;
    this.items.splice(index, 1);
    return true;
  }

  /** Uses up one hit of the first API fault for this method; the id is logged with the call. */
  takeApi(method: string): { id: number; fault: ApiFault } | null {
    return this.take((fault): fault is ApiFault => fault.kind === 'api' && (fault.method === '*' || fault.method === method));
  }

  takeLongPoll(): { id: number; fault: LongPollFault } | null {
    return this.take((fault): fault is LongPollFault => fault.kind === 'longpoll');
  }

  takePhoto(): { id: number; fault: PhotoFault } | null {
    return this.take((fault): fault is PhotoFault => fault.kind === 'photo');
  }

  hasLongPoll(): boolean {
    return this.items.some((item) => item.fault.kind === 'longpoll');
  }

  private take<T extends Fault>(match: (fault: Fault) => fault is T): { id: number; fault: T } | null {
    const index = this.items.findIndex((item) => match(item.fault));
    const item = this.items[index];
    if (item === undefined || !match(item.fault)) return null;
    item.remaining -= 1;
    if (item.remaining <= 0) this.items.splice(index, 1);
    return { id: item.id, fault: item.fault };
  }

  private describe(item: Scheduled): JsonObject {
    return { id: item.id, ...item.shape, count: item.count, remaining: item.remaining };
  }
}
