import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { claimDatabase, DatabaseInUseError, processAlive } from '../../src/db/owner.ts';
import { tempDb } from '../helpers/db.ts';

describe('one bot per database', () => {
  const me = { pid: 1111, host: 'a' };
  it('refuses while the owner on this host is alive and fresh, naming it', () => {
    const t = tempDb();
    try {
      claimDatabase(t.db, { pid: 2222, host: 'a' }, 0, 30_000, () => true);
      assert.throws(() => claimDatabase(t.db, me, 1000, 30_000, () => true), (e: unknown) => {
        assert.ok(e instanceof DatabaseInUseError);
        assert.match(e.message, /pid 2222 on a.*--db/);
        return true;
      });
    } finally {
      t.cleanup();
    }
  });
  it('takes over at once when the owner process is gone (a SIGKILL), and after a stale heartbeat', () => {
    const t = tempDb();
    try {
      claimDatabase(t.db, { pid: 2222, host: 'a' }, 0, 30_000, () => true);
      claimDatabase(t.db, me, 1000, 30_000, (pid) => pid !== 2222);
      const other = claimDatabase(t.db, { pid: 3333, host: 'b' }, 40_000, 30_000, () => true);
      assert.ok(other.heartbeat(41_000));
      assert.throws(() => claimDatabase(t.db, me, 42_000, 30_000, () => true), DatabaseInUseError);
    } finally {
      t.cleanup();
    }
  });
  it('a released database is free; a replaced owner notices through its heartbeat', () => {
    const t = tempDb();
    try {
      const first = claimDatabase(t.db, me, 0, 30_000, () => true);
      first.release();
      const second = claimDatabase(t.db, { pid: 2, host: 'a' }, 1, 30_000, () => true);
      assert.equal(first.heartbeat(2), false);
      assert.equal(second.heartbeat(2), true);
    } finally {
      t.cleanup();
    }
  });
  it('processAlive tells a live pid from a dead one, and a zombie (killed, not yet reaped) is dead', async () => {
    assert.equal(processAlive(process.pid), true);
    assert.equal(processAlive(2 ** 22 + 12345), false);
    // `sleep 0` becomes the child of a process (exec'd sleep) that never reaps it: a zombie.
    const { spawn } = await import('node:child_process');
    const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const pid = await new Promise<number>((resolve) => parent.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    await new Promise((r) => setTimeout(r, 300));
    try {
      assert.equal(processAlive(pid), false, `zombie ${pid} counts as gone`);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
