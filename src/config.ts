// Every setting: its flag, environment variable, default and check; parsing reports every
// bad value at once, by name.
import { availableParallelism } from 'node:os';

type Parser<T> = (raw: string) => T | { error: string };

interface Setting<T> {
  flag: string;
  env: string;
  default: T | ((partial: Record<string, unknown>) => T);
  parse: Parser<T>;
  doc: string;
  /** How --help describes the default when it is computed or a placeholder. */
  defaultDoc?: string;
  secret?: boolean;
}

function integer(min: number, max: number): Parser<number> {
  return (raw) => {
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(n)) return { error: `must be a whole number, got "${raw}"` };
    if (n < min || n > max) return { error: `must be between ${min} and ${max}, got ${n}` };
    return n;
  };
}

function decimal(min: number, max: number): Parser<number> {
  return (raw) => {
    const n = Number(raw);
    if (!/^-?\d+(\.\d+)?$/.test(raw) || !Number.isFinite(n)) return { error: `must be a number like 0.5, got "${raw}"` };
    if (n < min || n > max) return { error: `must be between ${min} and ${max}, got ${n}` };
    return n;
  };
}

function oneOf<T extends string>(...values: T[]): Parser<T> {
  return (raw) => ((values as string[]).includes(raw) ? (raw as T) : { error: `must be one of ${values.join(', ')}, got "${raw}"` });
}

const text: Parser<string> = (raw) => (raw.trim() === '' ? { error: 'must not be empty' } : raw);

const httpUrl: Parser<string> = (raw) => {
  try {
    const url = new URL(raw);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return { error: `must be an http(s) URL, got "${raw}"` };
    const base = raw.replace(/\/+$/, '');
    // VK's API base always ends in /method; without it every call would hit the wrong path.
    if (!base.endsWith('/method')) return { error: `must end with /method, like https://api.vk.ru/method, got "${raw}"` };
    return base;
  } catch {
    return { error: `must be a URL like https://api.vk.ru/method, got "${raw}"` };
  }
};

const flag: Parser<boolean> = (raw) => {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  return { error: `must be true or false, got "${raw}"` };
};

const defaultWorkers = () => Math.max(1, Math.min(availableParallelism(), 8));

export const SETTINGS = {
  db: { flag: 'db', env: 'ZAKADROM_DB', default: './zakadrom.db', parse: text, doc: 'SQLite database file' },
  port: {
    flag: 'port',
    env: 'ZAKADROM_SANDBOX_PORT',
    default: 8080,
    parse: integer(0, 65535),
    doc: 'sandbox port on 127.0.0.1 (0 picks a free port)',
  },
  vkApiUrl: {
    flag: 'vk-api-url',
    env: 'VK_API_URL',
    default: 'https://api.vk.ru/method',
    parse: httpUrl,
    doc: 'VK API base URL; a loopback URL points the bot at a separately started sandbox',
  },
  token: {
    flag: '',
    env: 'VK_TOKEN',
    default: '',
    defaultDoc: 'none: the bot runs its sandbox',
    parse: text,
    doc: 'community access token (environment only)',
    secret: true,
  },
  groupId: {
    flag: 'group-id',
    env: 'VK_GROUP_ID',
    default: 0,
    defaultDoc: 'found from the token',
    parse: integer(1, 2 ** 40),
    doc: 'community id (the sandbox is group 1)',
  },
  workers: {
    flag: 'workers',
    env: 'ZAKADROM_WORKERS',
    default: defaultWorkers,
    defaultDoc: 'number of CPUs, at most 8',
    parse: integer(1, 64),
    doc: 'analysis worker threads',
  },
  logLevel: {
    flag: 'log-level',
    env: 'ZAKADROM_LOG_LEVEL',
    default: 'info' as 'debug' | 'info' | 'warn' | 'error',
    parse: oneOf('debug', 'info', 'warn', 'error'),
    doc: 'debug, info, warn or error',
  },
  logFormat: {
    flag: 'log-format',
    env: 'ZAKADROM_LOG_FORMAT',
    default: 'auto' as 'auto' | 'json' | 'pretty',
    parse: oneOf('auto', 'json', 'pretty'),
    doc: 'auto (pretty on a terminal, JSON otherwise), json or pretty',
  },
  trigger: { flag: 'trigger', env: 'ZAKADROM_TRIGGER', default: 'подать заявку', parse: text, doc: 'the phrase that starts an application' },
  hints: {
    flag: 'hints',
    env: 'ZAKADROM_HINTS',
    default: true,
    parse: flag,
    doc: 'answer other private messages with how to apply',
  },
  perUserHourly: {
    flag: 'per-user-hourly',
    env: 'ZAKADROM_PER_USER_HOURLY',
    default: 20,
    parse: integer(1, 100000),
    doc: 'applications one user may start per hour; more get a polite refusal',
  },
  maxPhotos: { flag: 'max-photos', env: 'ZAKADROM_MAX_PHOTOS', default: 10, parse: integer(1, 50), doc: 'photos per application' },
  maxMegapixels: {
    flag: 'max-megapixels',
    env: 'ZAKADROM_MAX_MEGAPIXELS',
    default: 50,
    parse: decimal(0.01, 1000),
    doc: 'refuse images that declare more pixels (decompression bombs)',
  },
  maxDownloadMb: {
    flag: 'max-download-mb',
    env: 'ZAKADROM_MAX_DOWNLOAD_MB',
    default: 50,
    parse: decimal(0.01, 1024),
    doc: 'largest photo file downloaded',
  },
  downloadTimeoutMs: {
    flag: 'download-timeout-ms',
    env: 'ZAKADROM_DOWNLOAD_TIMEOUT_MS',
    default: 20000,
    parse: integer(100, 600000),
    doc: 'time limit of one photo download',
  },
  analysisTimeoutMs: {
    flag: 'analysis-timeout-ms',
    env: 'ZAKADROM_ANALYSIS_TIMEOUT_MS',
    default: 60000,
    parse: integer(100, 600000),
    doc: 'time limit of one photo analysis in a worker',
  },
  jobAttempts: {
    flag: 'job-attempts',
    env: 'ZAKADROM_JOB_ATTEMPTS',
    default: 5,
    parse: integer(1, 100),
    doc: 'attempts per photo before it is reported as failed',
  },
  retryBaseMs: {
    flag: 'retry-base-ms',
    env: 'ZAKADROM_RETRY_BASE_MS',
    default: 1000,
    parse: integer(1, 3600000),
    doc: 'first back-off step for retries (doubles each attempt)',
  },
  retryCapMs: {
    flag: 'retry-cap-ms',
    env: 'ZAKADROM_RETRY_CAP_MS',
    default: 300000,
    parse: integer(1, 86400000),
    doc: 'longest back-off between retries',
  },
  floodBackoffMs: {
    flag: 'flood-backoff-ms',
    env: 'ZAKADROM_FLOOD_BACKOFF_MS',
    default: 600000,
    parse: integer(1, 86400000),
    doc: 'back-off after VK flood control (error 9) or a rejected token (5)',
  },
  sendRate: {
    flag: 'send-rate',
    env: 'ZAKADROM_SEND_RATE',
    default: 20,
    parse: integer(1, 20),
    doc: 'VK API requests per second (VK allows a community 20)',
  },
  sendAttempts: {
    flag: 'send-attempts',
    env: 'ZAKADROM_SEND_ATTEMPTS',
    default: 50,
    parse: integer(1, 1000),
    doc: 'attempts per message before it is kept as failed',
  },
  apiTimeoutMs: {
    flag: 'api-timeout-ms',
    env: 'ZAKADROM_API_TIMEOUT_MS',
    default: 10000,
    parse: integer(100, 120000),
    doc: 'time limit of one VK API call',
  },
  textLimit: {
    flag: 'text-limit',
    env: 'ZAKADROM_TEXT_LIMIT',
    default: 4000,
    parse: integer(100, 9000),
    doc: 'longest message text; longer results are sent in parts',
  },
  minSide: {
    flag: 'min-side',
    env: 'ZAKADROM_MIN_SIDE',
    default: 8,
    parse: integer(1, 10000),
    doc: 'shorter side in pixels below this: too small to analyse (low resolution is judged by --min-megapixels)',
  },
  minMegapixels: {
    flag: 'min-megapixels',
    env: 'ZAKADROM_MIN_MEGAPIXELS',
    default: 0.3,
    parse: decimal(0, 100),
    doc: 'below this: low resolution (retake)',
  },
  darkMean: {
    flag: 'dark-mean',
    env: 'ZAKADROM_DARK_MEAN',
    default: 45,
    parse: decimal(0, 255),
    doc: 'mean brightness (0-255) below this: too dark',
  },
  brightClipShare: {
    flag: 'bright-clip-share',
    env: 'ZAKADROM_BRIGHT_CLIP_SHARE',
    default: 0.15,
    parse: decimal(0, 1),
    doc: 'share of blown-out pixels above this: overexposed',
  },
  blurVariance: {
    flag: 'blur-variance',
    env: 'ZAKADROM_BLUR_VARIANCE',
    default: 30,
    parse: decimal(0, 100000),
    doc: 'sharpness (Laplacian variance) below this: blurry',
  },
  duplicateDistance: {
    flag: 'duplicate-distance',
    env: 'ZAKADROM_DUPLICATE_DISTANCE',
    default: 8,
    parse: integer(0, 32),
    doc: 'perceptual-hash bits that may differ for "already sent"',
  },
} satisfies Record<string, Setting<unknown>>;

type Settings = typeof SETTINGS;
export type Config = { [K in keyof Settings]: Settings[K] extends Setting<infer T> ? T : never };

export class ConfigError extends Error {
  readonly code = 'bad_config';
  readonly retryable = false;
  constructor(readonly problems: string[]) {
    super(`bad configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Flags win over the environment, which wins over defaults. */
export function parseConfig(flags: ReadonlyMap<string, string>, env: Record<string, string | undefined>, unknownFlags: string[] = []): Config {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  const known = new Set<string>();
  for (const [key, setting] of Object.entries(SETTINGS) as [string, Setting<unknown>][]) {
    if (setting.flag) known.add(setting.flag);
    const fromFlag = setting.flag ? flags.get(setting.flag) : undefined;
    const raw = fromFlag ?? env[setting.env];
    const source = fromFlag !== undefined ? `--${setting.flag}` : setting.env;
    sources[key] = source;
    if (setting.secret && raw === '' && fromFlag === undefined) {
      // A VK_TOKEN= line with nothing after it is a mistake, not a wish for the offline sandbox.
      problems.push(`${setting.env}: is set but empty; give the token, or unset ${setting.env} to run the offline sandbox`);
      continue;
    }
    if (raw === undefined || (raw === '' && fromFlag === undefined)) {
      out[key] = typeof setting.default === 'function' ? (setting.default as (p: Record<string, unknown>) => unknown)(out) : setting.default;
      continue;
    }
    const value = setting.parse(raw);
    if (value && typeof value === 'object' && 'error' in value) {
      // The parsers of secrets never quote the value in their errors.
      problems.push(`${source}: ${value.error}`);
    } else {
      out[key] = value;
    }
  }
  for (const name of [...flags.keys(), ...unknownFlags]) {
    if (!known.has(name)) problems.push(`--${name}: unknown option (see zakadrom --help)`);
  }
  if (out.retryCapMs !== undefined && out.retryBaseMs !== undefined && (out.retryCapMs as number) < (out.retryBaseMs as number)) {
    problems.push(`${sources.retryCapMs ?? 'ZAKADROM_RETRY_CAP_MS'}: must not be below ${sources.retryBaseMs ?? 'ZAKADROM_RETRY_BASE_MS'}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as Config;
}

/** Every flag that sets a setting, for the argument parser. */
export function settingFlags(): Set<string> {
  return new Set((Object.values(SETTINGS) as Setting<unknown>[]).map((s) => s.flag).filter(Boolean));
}

/** The settings table as help text. */
export function describeSettings(): string {
  return (Object.values(SETTINGS) as Setting<unknown>[])
    .map((s) => {
      const def = s.defaultDoc ?? JSON.stringify(s.default);
      const name = s.flag ? `--${s.flag} / ${s.env}` : s.env;
      return `  ${name.padEnd(52)} ${s.doc} (default ${def})`;
    })
    .join('\n');
}
