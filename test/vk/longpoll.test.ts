// The long-poll loop against the sandbox: order, the saved position, and every failure VK can
// answer with; nothing VK still holds is lost.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../../src/clock.ts';
import { createLogger } from '../../src/log.ts';
import { createVkClient, type VkClient } from '../../src/vk/client.ts';
import type { LongPollUpdate } from '../../src/vk/longpoll.ts';
import { SandboxClient } from '../helpers/sandbox-client.ts';
import { startHarness, type Harness } from '../sandbox/harness.ts';

describe('Bots Long Poll loop', () => {
  let h: Harness;
  let user: SandboxClient;
  const texts: string[] = [];
  let position: { ts: string; at: number } | undefined;
  const gaps: number[] = [];
  let current: VkClient | undefined;
  const logs: string[] = [];

  function client(): VkClient {
    return (current = createVkClient({ token: 'lp-token', apiUrl: h.sandbox.apiUrl, groupId: h.sandbox.groupId, requestsPerSecond: 20, apiTimeoutMs: 2000 }));
  }
  function options(extra: Partial<{ failOn: string }> = {}) {
    return {
      onUpdate: async (u: LongPollUpdate) => {
        const text = (u.object?.message as { text?: string } | undefined)?.text ?? '';
        if (extra.failOn && text === extra.failOn) throw new Error('database busy');
        if (u.type === 'message_new') texts.push(text);
      },
      loadPosition: () => position,
      savePosition: (ts: string) => {
        position = { ts, at: Date.now() };
      },
      onGap: async (since: number) => {
        gaps.push(since);
        for (const m of (await current?.unansweredSince(since - 60_000)) ?? []) texts.push(`${m.text ?? ''} (caught up)`);
      },
      installedAt: Date.now(),
      clock: systemClock(),
      log: createLogger({ level: 'debug', json: true, write: (l) => logs.push(l), now: Date.now, secrets: [] }),
      waitSeconds: 1,
    };
  }
  async function seen(text: string, timeoutMs = 10_000) {
    const until = Date.now() + timeoutMs;
    while (!texts.includes(text)) {
      if (Date.now() > until) throw new Error(`"${text}" not received; got ${JSON.stringify(texts)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  before(async () => {
    h = await startHarness({ longPollMaxWaitMs: 1000 });
    user = new SandboxClient(h.sandbox.baseUrl);
  });
  after(() => h.close());

  it('takes updates in order and resumes after a stop from the saved position', async () => {
    const vk = client();
    await vk.startPolling(options());
    await user.send({ from_id: 1, text: 'one' });
    await seen('one');
    await vk.stopPolling();
    vk.close();
    // Written while nobody polls:
    await user.send({ from_id: 1, text: 'two' });
    await user.send({ from_id: 1, text: 'three' });
    const again = client();
    await again.startPolling(options());
    await seen('three');
    assert.deepEqual(texts.filter((t) => ['one', 'two', 'three'].includes(t)), ['one', 'two', 'three']);
    await again.stopPolling();
    again.close();
  });

  it('keeps its position through failed 2 (key expired), failed 1, HTTP 500 and a hung poll', async () => {
    const vk = client();
    await vk.startPolling(options());
    for (const [fault, text] of [
      [{ longpoll: { failed: 2 } }, 'after key expiry'],
      [{ longpoll: { failed: 1 } }, 'after history notice'],
      [{ longpoll: { http_status: 500 } }, 'after HTTP 500'],
      [{ longpoll: { hang: true } }, 'after a hung poll'],
    ] as const) {
      await user.fault({ ...fault, count: 1 });
      await user.send({ from_id: 2, text });
      await seen(text, 20_000);
    }
    await vk.stopPolling();
    vk.close();
  });

  it('does not move past an update intake could not commit; it takes it again', async () => {
    const vk = client();
    let failures = 0;
    const opts = options();
    const flaky = {
      ...opts,
      onUpdate: async (u: LongPollUpdate) => {
        const text = (u.object?.message as { text?: string } | undefined)?.text;
        if (text === 'flaky' && failures < 2) {
          failures += 1;
          throw new Error('database busy');
        }
        await opts.onUpdate(u);
      },
    };
    await vk.startPolling(flaky);
    await user.send({ from_id: 3, text: 'flaky' });
    await user.send({ from_id: 3, text: 'after flaky' });
    await seen('after flaky', 20_000);
    assert.equal(failures, 2);
    assert.ok(texts.indexOf('flaky') < texts.indexOf('after flaky'), 'order kept');
    await vk.stopPolling();
    vk.close();
  });

  it('when VK has lost the events (failed 3), catches up through the unanswered conversations', async () => {
    const vk = client();
    await vk.startPolling(options());
    await user.send({ from_id: 4, text: 'before the outage' });
    await seen('before the outage');
    await vk.stopPolling();
    vk.close();
    await user.send({ from_id: 5, text: 'during the outage' });
    await user.fault({ longpoll: { failed: 3 }, count: 1 });
    const again = client();
    await again.startPolling(options());
    await seen('during the outage (caught up)', 20_000);
    assert.ok(gaps.length >= 1);
    await again.stopPolling();
    again.close();
  });
});
