// A short chaos run inside the test suite (the full one is `npm run chaos`).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runChaos } from '../../chaos/chaos.ts';
import { zakadromCommand } from '../helpers/processes.ts';
import { NO_SHARED, SHARED } from '../helpers/sandbox-client.ts';

describe('chaos, short', { skip: NO_SHARED }, () => {
  it('answers every application exactly once through SIGKILLs and injected faults', async () => {
    const { cmd, args } = zakadromCommand();
    const report = await runChaos({
      applications: 30,
      kills: 6,
      paceMs: 100,
      command: [cmd, ...args],
      photosDir: join(SHARED, 'corpus/photos'),
    });
    console.log(`chaos (short): ${JSON.stringify({ ...report, violations: report.violations.length })}`);
    assert.deepEqual(report.violations, []);
    assert.equal(report.kills, 6);
    assert.equal(report.applications, 30);
    assert.equal(report.trapHits, 0);
  });
});
