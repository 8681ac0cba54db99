// argv -> command: the command name, its --flags (for config and the command) and positionals.

export const COMMANDS = ['run', 'sandbox', 'status', 'migrate', 'doctor', 'help', 'version'] as const;
export type CommandName = (typeof COMMANDS)[number];

export interface ParsedArgs {
  command: CommandName;
  /** Flags that configure the bot (--db, --port, ...), validated by config.ts. */
  settings: Map<string, string>;
  /** Flags of the command itself (e.g. --json). */
  switches: Set<string>;
  positionals: string[];
  /** --names that are neither settings nor switches. */
  unknown: string[];
}

export class UsageError extends Error {
  readonly code = 'usage';
  readonly retryable = false;
}

const SWITCHES = new Set(['json', 'help', 'version']);

/** `settingFlags`: names that take a value; any other --name is reported as unknown. */
export function parseArgs(argv: string[], settingFlags: ReadonlySet<string>): ParsedArgs {
  const settings = new Map<string, string>();
  const switches = new Set<string>();
  const positionals: string[] = [];
  const unknown: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    if (arg === '-h') {
      switches.add('help');
    } else if (arg === '-v') {
      switches.add('version');
    } else if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq === -1 ? undefined : eq);
      if (SWITCHES.has(name) && eq === -1) {
        switches.add(name);
        continue;
      }
      if (!settingFlags.has(name)) {
        // Reported with the bad settings, all at once. A following word is taken as its value
        // (a mistyped --max-photo 5), so it is not mistaken for a command.
        unknown.push(name);
        if (eq === -1 && argv[i + 1] !== undefined && !argv[i + 1]?.startsWith('-')) i += 1;
        continue;
      }
      const value = eq === -1 ? argv[i + 1] : arg.slice(eq + 1);
      if (value === undefined || (eq === -1 && value.startsWith('--'))) throw new UsageError(`--${name} needs a value`);
      if (eq === -1) i += 1;
      settings.set(name, value);
    } else {
      positionals.push(arg);
    }
  }
  let command: CommandName = 'run';
  const first = positionals[0];
  if (first !== undefined) {
    if (!(COMMANDS as readonly string[]).includes(first)) {
      throw new UsageError(`unknown command "${first}"; commands: ${COMMANDS.join(', ')}`);
    }
    command = first as CommandName;
    positionals.shift();
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" after ${command}`);
  if (switches.has('help')) command = 'help';
  else if (switches.has('version')) command = 'version';
  return { command, settings, switches, positionals, unknown };
}

export function helpText(settingsHelp: string): string {
  return `zakadrom: a VK community bot that takes photo applications, answers at once,
analyses the photos in the background and sends the findings later.

Usage: zakadrom [command] [options]

Commands:
  run              the bot (default). With VK_TOKEN it talks to VK; without, it starts a
                   local VK emulator (the sandbox) on 127.0.0.1 and works offline
  sandbox          the VK emulator alone (a bot in another process uses --vk-api-url)
  status [--json]  what is in the database; safe while the bot runs
  migrate          apply database migrations and exit
  doctor [--json]  self-test: SQLite, the image library in a worker thread, the database file
  --version, --help

Options (flag / environment variable):
${settingsHelp}
`;
}
