#!/usr/bin/env bun
// Composition root: argv and environment -> config -> dependencies -> loops -> signals.
// The only module that reads process.env / process.argv or exits.
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { createAnalysisPool } from './analysis/pool.ts';
import { analysisOptions, startBot } from './app/bot.ts';
import { formatChecks, imageSelfTest, runDoctor } from './app/doctor.ts';
import { formatStatus, readStatus } from './app/status.ts';
import { RUSSIAN_TEXTS } from './app/texts.ts';
import { helpText, parseArgs, UsageError, type ParsedArgs } from './cli.ts';
import { systemClock } from './clock.ts';
import { ConfigError, describeSettings, parseConfig, settingFlags, type Config } from './config.ts';
import { openDatabase, SqliteError, type Database } from './db/driver.ts';
import { claimDatabase, DatabaseInUseError, processAlive, type Ownership } from './db/owner.ts';
import { loadMigrationFiles } from './db/migration-files.ts';
import { migrate, parseMigrations } from './db/migrate.ts';
import { createLogger, redact, type Logger } from './log.ts';
import { sandboxImagesFromPool } from './sandbox/images.ts';
import { startSandbox, type Sandbox } from './sandbox/server.ts';
import { createVkClient } from './vk/client.ts';
import { VkStartError } from './vk/start.ts';
import { VK_IMAGE_HOST_SUFFIXES, type HostAllowList } from './vk/download.ts';
import { VERSION } from './version.ts';

const SHUTDOWN_DEADLINE_MS = 10_000;
const HEARTBEAT_MS = 5_000;
/** A bot on another host that has not written its heartbeat for this long is taken as gone. */
const OWNER_STALE_MS = 30_000;

/** A failure the user can act on: printed as one clear message, no stack. */
class StartError extends Error {
  readonly code = 'start_failed';
  readonly retryable = false;
}

function loopbackOrigins(url: URL): string[] {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return ['127.0.0.1', 'localhost', '[::1]'].map((host) => `${url.protocol}//${host}:${port}`);
}

function isLoopback(url: string): boolean {
  const host = new URL(url).hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function makeLogger(config: Config): Logger {
  const json = config.logFormat === 'json' || (config.logFormat === 'auto' && !process.stderr.isTTY);
  return createLogger({
    level: config.logLevel,
    json,
    write: (line) => process.stderr.write(line),
    now: Date.now,
    secrets: config.token ? [config.token] : [],
  });
}

function databaseProblem(config: Config, error: unknown): StartError {
  const text = error instanceof Error ? error.message : String(error);
  const code = error instanceof SqliteError ? error.code : '';
  const hint =
    code === 'SQLITE_READONLY'
      ? 'The bot must write to it: check the permissions of the file and of its folder (SQLite writes -wal and -shm files beside it).'
      : code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT'
        ? 'It is not a zakadrom database (or it is damaged): choose another file, or restore a backup.'
        : code === 'SQLITE_FULL'
          ? 'The disk is full: free some space.'
          : 'Check that the folder exists and is writable, or choose another file with --db / ZAKADROM_DB.';
  return new StartError(`cannot use the database ${config.db}: ${text}. ${hint}`);
}

function openAndMigrate(config: Config, log: Logger): Database {
  let db: Database;
  try {
    db = openDatabase(config.db, { busyTimeoutMs: 5000 });
  } catch (error) {
    throw databaseProblem(config, error);
  }
  try {
    const applied = migrate(db, parseMigrations(loadMigrationFiles()), Date.now());
    if (applied.length > 0) log.info('database migrated', { db: config.db, versions: applied });
  } catch (error) {
    db.close();
    throw error instanceof SqliteError ? databaseProblem(config, error) : error;
  }
  return db;
}

/** One bot per database file; also proves the file is writable before anything else starts. */
function ownDatabase(db: Database, config: Config, log: Logger): { ownership: Ownership; stopHeartbeat: () => void } {
  let ownership: Ownership;
  try {
    ownership = claimDatabase(db, { pid: process.pid, host: hostname() }, Date.now(), OWNER_STALE_MS, processAlive);
  } catch (error) {
    if (error instanceof DatabaseInUseError) throw new StartError(error.message);
    throw databaseProblem(config, error);
  }
  const timer = setInterval(() => {
    try {
      if (!ownership.heartbeat(Date.now())) {
        // This process was frozen long enough to be taken for dead: two bots must not share the
        // database, so this one leaves (through the normal shutdown).
        log.error('another process has taken over the database; stopping', { db: config.db });
        clearInterval(timer);
        process.kill(process.pid, 'SIGTERM');
      }
    } catch (error) {
      log.warn('could not write the heartbeat', { error });
    }
  }, HEARTBEAT_MS);
  timer.unref();
  return { ownership, stopHeartbeat: () => clearInterval(timer) };
}

/**
 * Installs SIGINT/SIGTERM handling at once, so a signal during start-up is not lost: the
 * returned function hands over the shutdown routine when it exists; until then a signal exits.
 */
function onSignals(log: Logger): (shutdown: () => Promise<void>) => void {
  let shutdown: (() => Promise<void>) | undefined;
  let fired = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (fired || !shutdown) {
        process.stderr.write(fired ? 'second signal: exiting now\n' : `${signal} during start-up: exiting\n`);
        process.exit(fired ? 130 : 0);
      }
      fired = true;
      log.info('shutting down', { signal });
      shutdown().then(
        () => process.exit(0),
        (error: unknown) => {
          log.error('shutdown failed', { error });
          process.exit(1);
        },
      );
    });
  }
  return (fn) => {
    shutdown = fn;
  };
}

async function listenSandbox(config: Config, images: Parameters<typeof startSandbox>[0]['images']): Promise<Sandbox> {
  try {
    return await startSandbox({ port: config.port, images });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'EADDRINUSE') {
      throw new StartError(
        `port ${config.port} on 127.0.0.1 is in use; choose another with --port N or ZAKADROM_SANDBOX_PORT (0 picks a free port)`,
      );
    }
    throw error;
  }
}

/** Settings that are valid alone but contradict each other for `run`. */
function checkRunSettings(config: Config, args: ParsedArgs, env: Record<string, string | undefined>, log: Logger): void {
  const apiUrlGiven = args.settings.has('vk-api-url') || Boolean(env.VK_API_URL);
  if (!config.token && apiUrlGiven) {
    throw new ConfigError([
      'VK_API_URL / --vk-api-url is set but VK_TOKEN is not: set VK_TOKEN too (any non-empty value for a sandbox), ' +
        'or leave both out to run the built-in sandbox',
    ]);
  }
  if (config.token && (args.settings.has('port') || env.ZAKADROM_SANDBOX_PORT)) {
    log.warn('--port / ZAKADROM_SANDBOX_PORT is ignored: with VK_TOKEN set the bot talks to VK and starts no sandbox');
  }
}

async function runBot(config: Config, log: Logger): Promise<void> {
  const setShutdown = onSignals(log);
  const clock = systemClock();
  const db = openAndMigrate(config, log);
  const { ownership, stopHeartbeat } = ownDatabase(db, config, log);
  const pool = createAnalysisPool({ threads: config.workers, taskTimeoutMs: config.analysisTimeoutMs });
  // Checked while the rest starts: a host where the image library cannot load must not run a
  // bot that acknowledges applications it can never analyse.
  const imageCheck = imageSelfTest((bytes, options) => pool.analyse(bytes, options), analysisOptions(config)).then(
    () => undefined,
    (error: unknown) => error,
  );
  let sandbox: Sandbox | undefined;
  let token = config.token;
  let apiUrl = config.vkApiUrl;
  let groupId = config.groupId;
  // Message numbers are unique within one VK world; each start of the bot's own sandbox is a
  // new world that numbers from 1 again, so its updates must not collide with older ones.
  let scope = 'vk';
  if (!token) {
    sandbox = await listenSandbox(config, sandboxImagesFromPool(pool, analysisOptions(config).maxPixels));
    process.stdout.write(`sandbox: ${sandbox.baseUrl}\n`);
    token = 'sandbox';
    apiUrl = sandbox.apiUrl;
    groupId = sandbox.groupId;
    scope = `sandbox-${Date.now()}`;
  }
  const allow: HostAllowList = {
    suffixes: VK_IMAGE_HOST_SUFFIXES,
    // A loopback API URL is a sandbox: its photos come from the same port on loopback, under
    // whichever loopback name the sandbox chose for its URLs.
    origins: isLoopback(apiUrl) ? loopbackOrigins(new URL(apiUrl)) : [],
  };
  const imageError = await imageCheck;
  if (imageError !== undefined) {
    await pool.close();
    await sandbox?.close();
    throw new StartError(`the image library does not work on this host: ${imageError instanceof Error ? imageError.message : String(imageError)}`);
  }
  const vk = createVkClient({ token, apiUrl, groupId, requestsPerSecond: config.sendRate, apiTimeoutMs: config.apiTimeoutMs });
  const bot = await startBot({
    config,
    db,
    clock,
    log,
    random: Math.random,
    vk,
    analyser: pool,
    texts: RUSSIAN_TEXTS,
    allow,
    scope,
  }).catch((error: unknown) => {
    throw error instanceof VkStartError ? new StartError(`cannot start the long poll at ${apiUrl}: ${error.message}`) : error;
  });
  log.info('bot ready', { db: config.db, api: apiUrl, workers: config.workers, sandbox: sandbox?.baseUrl ?? null });

  setShutdown(async () => {
    await bot.stop(SHUTDOWN_DEADLINE_MS);
    await pool.close();
    await sandbox?.close();
    stopHeartbeat();
    ownership.release();
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    db.close();
    log.info('stopped cleanly');
  });
}

async function runSandbox(config: Config, log: Logger): Promise<void> {
  const setShutdown = onSignals(log);
  const pool = createAnalysisPool({ threads: 1, taskTimeoutMs: config.analysisTimeoutMs });
  const sandbox = await listenSandbox(config, sandboxImagesFromPool(pool, analysisOptions(config).maxPixels));
  process.stdout.write(`sandbox: ${sandbox.baseUrl}\n`);
  log.info('sandbox ready', { api: sandbox.apiUrl, group_id: sandbox.groupId });
  setShutdown(async () => {
    await sandbox.close();
    await pool.close();
  });
}

function runStatus(config: Config, args: ParsedArgs): void {
  if (!existsSync(config.db)) {
    throw new StartError(`no database at ${config.db}; start the bot first, or point --db / ZAKADROM_DB at its file`);
  }
  let db: Database;
  try {
    db = openDatabase(config.db, { busyTimeoutMs: 5000, readonly: true });
  } catch (error) {
    throw databaseProblem(config, error);
  }
  try {
    const status = readStatus(db, Date.now());
    process.stdout.write(args.switches.has('json') ? JSON.stringify(status, null, 2) + '\n' : formatStatus(status) + '\n');
  } finally {
    db.close();
  }
}

async function runDoctorCommand(config: Config, args: ParsedArgs): Promise<number> {
  const pool = createAnalysisPool({ threads: 1, taskTimeoutMs: config.analysisTimeoutMs });
  try {
    const checks = await runDoctor({
      dbPath: config.db,
      migrations: parseMigrations(loadMigrationFiles()),
      analyse: (bytes, options) => pool.analyse(bytes, options),
      analysisOptions: analysisOptions(config),
      now: Date.now(),
    });
    process.stdout.write(args.switches.has('json') ? JSON.stringify({ checks }, null, 2) + '\n' : formatChecks(checks) + '\n');
    return checks.every((c) => c.ok) ? 0 : 1;
  } finally {
    await pool.close();
  }
}

async function main(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  let args: ParsedArgs;
  let config: Config;
  try {
    args = parseArgs(argv, settingFlags());
    if (args.command === 'help') {
      process.stdout.write(helpText(describeSettings()));
      return 0;
    }
    if (args.command === 'version') {
      process.stdout.write(`zakadrom ${VERSION}\n`);
      return 0;
    }
    config = parseConfig(args.settings, env, args.unknown);
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError) {
      process.stderr.write(`zakadrom: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const log = makeLogger(config);
  try {
    switch (args.command) {
      case 'run':
        checkRunSettings(config, args, env, log);
        await runBot(config, log);
        return -1; // keeps running until a signal
      case 'sandbox':
        await runSandbox(config, log);
        return -1;
      case 'status':
        runStatus(config, args);
        return 0;
      case 'migrate':
        openAndMigrate(config, log).close();
        return 0;
      case 'doctor':
        return await runDoctorCommand(config, args);
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`zakadrom: ${error.message}\n`);
      return 2;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`zakadrom: ${redact(message, config.token ? [config.token] : [])}\n`);
    if (!(error instanceof StartError) && !(error && typeof error === 'object' && 'code' in error)) {
      log.debug('stack', { stack: error instanceof Error ? error.stack : undefined });
    }
    return 1;
  }
}

const code = await main(process.argv.slice(2), process.env);
if (code >= 0) process.exit(code);
