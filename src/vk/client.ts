// vk-io wiring: the API client pointed at VK or the sandbox, messages.send for the outbox,
// and the Bots Long Poll (our own loop over vk-io's API, see longpoll.ts) feeding intake.
import http from 'node:http';
import https from 'node:https';
import { APIError, VK } from 'vk-io';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { MessageTransport } from '../outbox/sender.ts';
import type { RawMessage } from './incoming.ts';
import { LongPoll, type LongPollUpdate } from './longpoll.ts';

export interface VkOptions {
  token: string;
  apiUrl: string;
  /** 0: vk-io asks VK which community the token belongs to. */
  groupId: number;
  requestsPerSecond: number;
  apiTimeoutMs: number;
}

/** A failed VK call: VK's error code, or null for transport trouble (network, 5xx, timeout). */
export class VkCallError extends Error {
  readonly code = 'vk_call_failed';
  readonly retryable: boolean;
  constructor(
    readonly vkCode: number | null,
    message: string,
  ) {
    super(message);
    this.name = 'VkCallError';
    this.retryable = vkCode === null || vkCode === 6 || vkCode === 10;
  }
}

function toVkCallError(error: unknown, method: string): VkCallError {
  if (error instanceof APIError) return new VkCallError(Number(error.code), `${method}: VK error ${error.code}: ${error.message}`);
  return new VkCallError(null, `${method}: ${error instanceof Error ? error.message : String(error)}`);
}

export interface PollingOptions {
  onUpdate(update: LongPollUpdate): Promise<void>;
  loadPosition(): { ts: string; at: number } | undefined;
  savePosition(ts: string): void;
  onGap(sinceMs: number): Promise<void>;
  installedAt: number;
  clock: Clock;
  log: Logger;
}

export interface VkClient {
  vk: VK;
  transport: MessageTransport;
  /**
   * Messages users wrote since `sinceMs` in conversations the community has not answered yet,
   * oldest first: how the bot catches up when the long poll has lost events.
   */
  unansweredSince(sinceMs: number): Promise<RawMessage[]>;
  /** The full message when a long-poll event was cropped. */
  fetchMessage(peerId: number, conversationMessageId: number): Promise<RawMessage | undefined>;
  /**
   * Starts the long poll from the saved position (or VK's newest); resolves once the first poll
   * is under way. Each update is handed over in order; the position is saved after them.
   */
  startPolling(options: PollingOptions): Promise<void>;
  /** Stops taking updates; the API stays usable so the outbox can still send. */
  stopPolling(): Promise<void>;
  close(): void;
}

export function createVkClient(options: VkOptions): VkClient {
  const secure = options.apiUrl.startsWith('https:');
  // vk-io types the agent as https.Agent, but an http:// base URL needs an http.Agent.
  const agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  const vk = new VK({
    token: options.token,
    apiBaseUrl: options.apiUrl,
    agent: agent as https.Agent,
    apiLimit: options.requestsPerSecond,
    apiTimeout: options.apiTimeoutMs,
    // The outbox retries with its own back-off and the stored random_id; vk-io must not add
    // blind retries of its own on top (it still re-queues error 6 itself, same random_id).
    apiRetryLimit: 0,
  });

  const transport: MessageTransport = {
    async send(peerId, randomId, message) {
      try {
        const id = await vk.api.messages.send({ peer_id: peerId, random_id: randomId, message, dont_parse_links: 1 });
        return Number(id);
      } catch (error) {
        throw toVkCallError(error, 'messages.send');
      }
    },
  };

  let groupId = options.groupId;
  let longPoll: LongPoll | undefined;
  return {
    vk,
    transport,
    async unansweredSince(sinceMs) {
      const found: RawMessage[] = [];
      try {
        // VK pages conversations by 200; a gap long enough to need more pages is a rare outage.
        for (let offset = 0; offset < 2000; offset += 200) {
          const page = await vk.api.messages.getConversations({ filter: 'unanswered', count: 200, offset, group_id: groupId || undefined });
          for (const item of page.items) {
            const history = await vk.api.messages.getHistory({ peer_id: item.conversation.peer.id, count: 50, group_id: groupId || undefined });
            for (const m of history.items as RawMessage[] & { out?: number }[]) {
              if ((m as { out?: number }).out === 0 && (m.date ?? 0) * 1000 >= sinceMs) found.push(m);
            }
          }
          if (page.items.length < 200) break;
        }
      } catch (error) {
        throw toVkCallError(error, 'messages.getConversations/getHistory');
      }
      return found.sort((a, b) => (a.date ?? 0) - (b.date ?? 0) || (a.conversation_message_id ?? 0) - (b.conversation_message_id ?? 0));
    },
    async fetchMessage(peerId, conversationMessageId) {
      try {
        const { items } = await vk.api.messages.getByConversationMessageId({
          peer_id: peerId,
          conversation_message_ids: conversationMessageId,
          group_id: groupId > 0 ? groupId : undefined,
        });
        return items[0] as RawMessage | undefined;
      } catch (error) {
        throw toVkCallError(error, 'messages.getByConversationMessageId');
      }
    },
    async startPolling(polling) {
      if (groupId === 0) {
        try {
          const { groups } = await vk.api.groups.getById({});
          groupId = groups[0]?.id ?? 0;
        } catch (error) {
          throw toVkCallError(error, 'groups.getById');
        }
        if (!groupId) throw new VkCallError(100, 'groups.getById: the token names no community; set VK_GROUP_ID');
      }
      longPoll = new LongPoll({
        ...polling,
        async getServer() {
          try {
            const r = await vk.api.groups.getLongPollServer({ group_id: groupId });
            return { server: r.server, key: r.key, ts: String(r.ts) };
          } catch (error) {
            throw toVkCallError(error, 'groups.getLongPollServer');
          }
        },
      });
      await longPoll.start();
    },
    async stopPolling() {
      await longPoll?.stop();
    },
    close() {
      agent.destroy();
    },
  };
}
