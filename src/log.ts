// Structured logging: one line per event, JSON when piped, readable on a terminal, with every
// configured secret replaced before anything is written.

export type Level = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface LoggerOptions {
  level: Level;
  json: boolean;
  write: (line: string) => void;
  now: () => number;
  /** Strings that must never appear in output (the VK token). */
  secrets: string[];
}

/** Replaces every secret in text; exported so error messages shown to people use it too. */
export function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  }
  return out;
}

function plain(value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return code === undefined ? value.message : `${value.message} (${String(code)})`;
  }
  return value;
}

export function createLogger(options: LoggerOptions): Logger {
  const threshold = LEVELS[options.level];
  const emit = (level: Level, message: string, fields: Record<string, unknown> = {}): void => {
    if (LEVELS[level] < threshold) return;
    const time = new Date(options.now()).toISOString();
    const entries = Object.entries(fields).map(([k, v]) => [k, plain(v)] as const);
    let line: string;
    if (options.json) {
      line = JSON.stringify({ time, level, msg: message, ...Object.fromEntries(entries) });
    } else {
      const extra = entries.map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
      line = `${time.slice(11, 23)} ${level.toUpperCase().padEnd(5)} ${message}${extra ? ' ' + extra : ''}`;
    }
    options.write(redact(line, options.secrets) + '\n');
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}
