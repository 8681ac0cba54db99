// Fetches a photo from VK's image hosts only, within a time limit and a byte limit, following
// redirects by hand so that every hop is checked against the allow-list.

export interface DownloadLimits {
  timeoutMs: number;
  maxBytes: number;
  maxRedirects: number;
}

export interface HostAllowList {
  /** Host suffixes served over https, e.g. "userapi.com" allows "sun9-1.userapi.com". */
  suffixes: string[];
  /** Exact origins (scheme://host:port) also allowed: the sandbox's own, on loopback. */
  origins: string[];
}

export type DownloadFailureKind = 'not_allowed' | 'http_status' | 'not_an_image' | 'too_large' | 'timeout' | 'network' | 'empty';

export class DownloadError extends Error {
  readonly code = 'download_failed';
  /** Permanent for a host outside the list and for a file over the byte limit. */
  readonly retryable: boolean;
  constructor(
    readonly kind: DownloadFailureKind,
    message: string,
  ) {
    super(message);
    this.name = 'DownloadError';
    this.retryable = kind !== 'not_allowed' && kind !== 'too_large';
  }
}

/** VK's image hosts; photos and documents are served from these. */
export const VK_IMAGE_HOST_SUFFIXES = ['userapi.com', 'vk.com', 'vk.me', 'vkuser.net', 'vk-cdn.net', 'vk.ru'];

export function isAllowedUrl(raw: string, allow: HostAllowList): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  if (url.username || url.password) return false;
  if (allow.origins.includes(url.origin)) return true;
  if (url.protocol !== 'https:' || (url.port !== '' && url.port !== '443')) return false;
  const host = url.hostname.toLowerCase();
  return allow.suffixes.some((s) => host === s || host.endsWith('.' + s));
}

function redactUrl(raw: string): string {
  // Photo URLs carry access keys in the query; logs and errors get the host and path only.
  try {
    const u = new URL(raw);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}

async function readBody(response: Response, maxBytes: number, url: string): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel();
    throw new DownloadError('too_large', `${redactUrl(url)} is ${declared} bytes, more than the limit of ${maxBytes}`);
  }
  const reader = response.body?.getReader();
  if (!reader) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new DownloadError('too_large', `${redactUrl(url)} sent more than the limit of ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

export async function downloadPhoto(
  url: string,
  limits: DownloadLimits,
  allow: HostAllowList,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  let current = url;
  try {
    for (let hop = 0; ; hop += 1) {
      if (!isAllowedUrl(current, allow)) {
        throw new DownloadError('not_allowed', `refusing to download from ${redactUrl(current)}: not a VK image host`);
      }
      const response = await fetch(current, { redirect: 'manual', signal: combined, headers: { accept: 'image/*' } });
      if (response.status >= 300 && response.status < 400) {
        await response.body?.cancel();
        const location = response.headers.get('location');
        if (!location || hop >= limits.maxRedirects) {
          throw new DownloadError('http_status', `${redactUrl(current)}: redirect without a usable target`);
        }
        current = new URL(location, current).href;
        continue;
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw new DownloadError('http_status', `${redactUrl(current)} answered HTTP ${response.status}`);
      }
      const type = (response.headers.get('content-type') ?? '').toLowerCase();
      if (type.startsWith('text/html')) {
        await response.body?.cancel();
        throw new DownloadError('not_an_image', `${redactUrl(current)} answered with a web page instead of a photo`);
      }
      const bytes = await readBody(response, limits.maxBytes, current);
      if (bytes.byteLength === 0) throw new DownloadError('empty', `${redactUrl(current)} answered with an empty body`);
      return bytes;
    }
  } catch (error) {
    if (error instanceof DownloadError) throw error;
    if (timeout.aborted) {
      throw new DownloadError('timeout', `${redactUrl(current)} did not finish within ${limits.timeoutMs} ms`);
    }
    if (signal?.aborted) throw error;
    throw new DownloadError('network', `${redactUrl(current)}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
