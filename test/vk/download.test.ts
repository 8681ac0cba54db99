// Photo downloads: only allowed hosts, every redirect checked, bounded in time and bytes, with
// the sandbox's photo faults standing in for VK's image servers misbehaving.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DownloadError, downloadPhoto, isAllowedUrl, VK_IMAGE_HOST_SUFFIXES, type HostAllowList } from '../../src/vk/download.ts';
import { SandboxClient } from '../helpers/sandbox-client.ts';
import { makePng, startHarness, type Harness } from '../sandbox/harness.ts';

const VK_ONLY: HostAllowList = { suffixes: VK_IMAGE_HOST_SUFFIXES, origins: [] };

describe('photo host allow-list', () => {
  it('allows VK image hosts over https only', () => {
    for (const url of ['https://sun9-21.userapi.com/s/v1/ig2/x.jpg', 'https://pp.userapi.com/a.jpg', 'https://vk.com/doc1_2?hash=x', 'https://psv4.vk.me/c1/x.png']) {
      assert.ok(isAllowedUrl(url, VK_ONLY), url);
    }
  });
  it('refuses look-alikes, other schemes, ports, credentials and loopback', () => {
    for (const url of [
      'http://sun9-21.userapi.com/x.jpg',
      'https://userapi.com.evil.example/x.jpg',
      'https://evil-userapi.com/x.jpg',
      'https://sun9-1.userapi.com:8443/x.jpg',
      'https://user:pw@sun9-1.userapi.com/x.jpg',
      'file:///etc/passwd',
      'http://127.0.0.1:8080/photos/1/w.jpg',
      'http://169.254.169.254/latest/meta-data',
      'not a url',
    ]) {
      assert.ok(!isAllowedUrl(url, VK_ONLY), url);
    }
  });
  it('allows a sandbox origin only when it is listed exactly', () => {
    const allow = { suffixes: [], origins: ['http://127.0.0.1:8080'] };
    assert.ok(isAllowedUrl('http://127.0.0.1:8080/photos/1/w.jpg', allow));
    assert.ok(!isAllowedUrl('http://127.0.0.1:8081/photos/1/w.jpg', allow));
  });
});

describe('downloadPhoto against misbehaving image servers', () => {
  let h: Harness;
  let user: SandboxClient;
  let url: string;
  let allow: HostAllowList;
  const png = makePng(40, 30);
  const limits = { timeoutMs: 800, maxBytes: 1024 * 1024, maxRedirects: 3 };

  before(async () => {
    h = await startHarness();
    user = new SandboxClient(h.sandbox.baseUrl);
    await user.send({ from_id: 700001, text: 'x', photos: [png.toString('base64')] });
    const [msg] = (await user.messages(700001)) as unknown as { attachments: { photo: { orig_photo: { url: string } } }[] }[];
    url = msg?.attachments[0]?.photo.orig_photo.url ?? '';
    allow = { suffixes: VK_IMAGE_HOST_SUFFIXES, origins: [new URL(h.sandbox.baseUrl).origin] };
  });
  after(() => h.close());

  async function failure(fault: Record<string, unknown> | null, lim = limits): Promise<DownloadError> {
    if (fault) await user.fault({ photo: fault, count: 1 });
    const error = await downloadPhoto(url, lim, allow).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof DownloadError, `expected a DownloadError, got ${String(error)}`);
    return error;
  }

  it('downloads the original bytes', async () => {
    assert.deepEqual(Buffer.from(await downloadPhoto(url, limits, allow)), png);
  });
  it('HTTP 404: a retryable failure naming the status', async () => {
    const e = await failure({ http_status: 404 });
    assert.equal(e.kind, 'http_status');
    assert.ok(e.retryable);
    assert.match(e.message, /404/);
  });
  it('an HTML page instead of a photo', async () => {
    assert.equal((await failure({ html: true })).kind, 'not_an_image');
  });
  it('a redirect to a host outside the list is refused before any request goes there', async () => {
    const e = await failure({ redirect: 'http://example.invalid/x.jpg' });
    assert.equal(e.kind, 'not_allowed');
    assert.equal(e.retryable, false);
  });
  it('a server that stalls is cut at the time limit', async () => {
    const started = Date.now();
    const e = await failure({ stall: true });
    assert.equal(e.kind, 'timeout');
    assert.ok(Date.now() - started < 5000, 'bounded by the time limit, not hanging');
  });
  it('a body without end is cut at the byte limit', async () => {
    const e = await failure({ endless: true }, { ...limits, timeoutMs: 10_000, maxBytes: 256 * 1024 });
    assert.equal(e.kind, 'too_large');
    assert.equal(e.retryable, false);
  });
  it('refuses a URL outside the list without fetching it', async () => {
    const e = await downloadPhoto(url, limits, VK_ONLY).catch((x: unknown) => x);
    assert.ok(e instanceof DownloadError);
    assert.equal(e.kind, 'not_allowed');
    assert.doesNotMatch(e.message, /\?/, 'no query string (access keys) in the message');
  });
});
