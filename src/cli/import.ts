/**
 * `meridian import run|file|resume`: runs an import in this process, with a progress bar on a
 * terminal and a log line every few seconds otherwise. Ctrl-C (or SIGTERM) pauses the run after its batch, so
 * `meridian import resume` (or POST /jobs/{id}/resume) goes on from there. `meridian import rejections`
 * prints a run's rejected rows, which the embedded store shows no one else while this process holds it.
 */
import { basename, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError, type Config } from '../config/config.js';
import {
  checkDraft,
  checkImportReferences,
  eventNamesNeeded,
  fileImportId,
  TARGETS,
  type ImportDraft,
} from '../importing/model.js';
import { KEPT_REJECTIONS, type ImportRun, type ImportStore } from '../importing/ports.js';
import { importProgressLine, terminalLine } from '../importing/progress.js';
import {
  changeRun,
  createImportRun,
  LEASE_CHECK_MARGIN_MS,
  RunGoing,
  runImport,
  type RunAttempt,
} from '../importing/runner.js';
import { unreadableFile } from '../importing/sources.js';
import { DomainError, notFound } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { Composition } from './composition.js';
import { environmentHelp } from './help.js';
import { ProgressLine } from './progress-line.js';
import type { Run } from './run.js';

const REFRESH_MS = 250;
const LOG_EVERY_MS = 5000;

/**
 * Runs a queued run here, showing its progress (on a terminal, on `bar`), and exits non-zero unless
 * it is done.
 */
async function runHere(root: Composition, run: ImportRun, bar: ProgressLine | undefined): Promise<void> {
  const { imports } = root.repositories;
  let lastLog = 0;
  const show = async (final = false) => {
    const now = await imports.getRun(run.id);
    if (!now) return;
    if (bar) {
      const line = terminalLine((drawn) => importProgressLine(now, drawn), process.stderr.columns);
      if (final) bar.end(line);
      else bar.draw(line);
    } else if (final || Date.now() - lastLog >= LOG_EVERY_MS) {
      lastLog = Date.now();
      process.stderr.write(`import ${run.id}: ${importProgressLine(now, false)}\n`);
    }
  };
  const timer = setInterval(() => void show(), bar ? REFRESH_MS : LOG_EVERY_MS);
  const pause = () => {
    process.stderr.write('\npausing after the current batch…\n');
    void imports.transition(run.id, ['queued', 'running'], 'paused');
  };
  // SIGTERM (a supervisor, `timeout`, a container stopping) pauses too: killed, the run would be left
  // `running` for no one, and the same command would refuse to go on with it.
  const signals = ['SIGINT', 'SIGTERM'] as const;
  for (const signal of signals) process.once(signal, pause);
  const deps = { imports, importing: root.importServices(), queue: root.queue, logger: root.logger };
  let attempt: RunAttempt;
  try {
    attempt = await runImport(deps, run.id);
    if (attempt.outcome === 'held') {
      // Left running by a process killed a moment ago, whose lease has not run out yet: taken over
      // here once it does. A process still running it renews its lease, and this one gives up.
      process.stderr.write(
        `\nrun ${run.id} is held by another process; should that process be gone, it is taken over here ` +
          `once its lease runs out, in ${Math.ceil(attempt.heldForMs / 1000)} s\n`,
      );
      await sleep(attempt.heldForMs + LEASE_CHECK_MARGIN_MS);
      attempt = await runImport(deps, run.id);
    }
  } finally {
    clearInterval(timer);
    for (const signal of signals) process.off(signal, pause);
  }
  if (attempt.outcome === 'held')
    throw new ConfigError(
      'import',
      `run ${run.id} is running in another process, which still holds it: follow it at GET /jobs/${run.id}, ` +
        `or pause or cancel it at POST /jobs/${run.id}/pause|cancel`,
    );
  if (attempt.outcome === 'skipped') {
    const now = await imports.getRun(run.id);
    throw new ConfigError(
      'import',
      `run ${run.id} is ${now?.state ?? 'gone'}, neither queued nor left running by a process that stopped: it was paused, cancelled or ended meanwhile; ` +
        `follow it at GET /jobs/${run.id}`,
    );
  }
  await show(true);
  const end = await imports.getRun(run.id);
  process.stdout.write(`${JSON.stringify({ job: run.id, state: end?.state, lastError: end?.lastError })}\n`);
  if (end && end.rowsRejected > 0)
    process.stderr.write(
      `${end.rowsRejected} rows rejected; the first ${KEPT_REJECTIONS}, with their line or key and the reason: ` +
        `meridian import rejections ${run.id} (or GET /jobs/${run.id}/rejections)\n`,
    );
  if (end?.state === 'paused') process.stderr.write(`resume with: meridian import resume ${run.id}\n`);
  // A run paused (Ctrl-C), cancelled or failed is no import done, for a script that goes on after it.
  if (end?.state !== 'done') process.exitCode = 1;
}

/**
 * A new run of the import to run here, or the run of it that is paused, queued or running (a Ctrl-C, a
 * run no worker took, a process killed: runHere takes it over once that process's lease runs out): the
 * same command goes on with it rather than being refused.
 */
async function runToGoOn(imports: ImportStore, importId: string): Promise<ImportRun> {
  try {
    return await createImportRun(imports, importId);
  } catch (error) {
    if (!(error instanceof RunGoing)) throw error;
    const { run } = error;
    // Options given now (a throttle, a batch size) apply; other changes would store other rows.
    if (!(await imports.adoptImportSettings(run.id)))
      throw new ConfigError(
        'import',
        `import "${importId}" was changed since its ${run.state} run ${run.id} started, in what it stores: ` +
          `cancel that run (POST /jobs/${run.id}/cancel) to start one with the new settings, ` +
          `or go on with it as it was: meridian import resume ${run.id}`,
      );
    process.stderr.write(`going on with the ${run.state} run ${run.id} of import ${importId}\n`);
    return run.state === 'paused' ? changeRun(imports, run.id, 'resume') : run;
  }
}

/** `--trait path=column` (and `--pii`), repeatable, as a mapping's `{path: column}`. */
function pathToColumn(given: string, earlier: Record<string, string> = {}): Record<string, string> {
  const at = given.indexOf('=');
  if (at <= 0 || at === given.length - 1)
    throw new InvalidArgumentError('expected path=column (name=full_name, address.city=city)');
  return { ...earlier, [given.slice(0, at)]: given.slice(at + 1) };
}

/**
 * Opens the store for `work`. On a terminal, `work` gets a progress bar, which the store's log lines
 * (stdout, on the same terminal) are written around rather than onto.
 */
async function withRoot(
  config: Config,
  logger: Logger,
  work: (root: Composition, bar: ProgressLine | undefined) => Promise<void>,
) {
  const bar = process.stderr.isTTY === true ? new ProgressLine(process.stderr) : undefined;
  const root = await Composition.open(
    config,
    bar ? createLogger(config.logLevel, { write: (line: string) => bar.print(process.stdout, line) }) : logger,
  );
  try {
    await work(root, bar);
  } catch (error) {
    // What the user can fix is said in one line, as a configuration error is.
    if (error instanceof DomainError) throw new ConfigError('import', error.message);
    throw error;
  } finally {
    await root.close();
  }
}

export function importCommand(run: Run): Command {
  const command = new Command('import')
    .description('bring history in: run saved imports, or a CSV / JSON Lines file, here with progress')
    .addHelpText('after', environmentHelp('server'));
  command
    .command('run')
    .description('run a saved import (POST /imports) in this process')
    .argument('<import-id>')
    .action((importId: string) =>
      run((config, logger) =>
        withRoot(config, logger, async (root, bar) =>
          runHere(root, await runToGoOn(root.repositories.imports, importId), bar),
        ),
      )(),
    );
  command
    .command('resume')
    .description('go on with a paused, failed or killed import run from its checkpoint, in this process')
    .argument('<job-id>')
    .action((jobId: string) =>
      run((config, logger) =>
        withRoot(config, logger, async (root, bar) => {
          await runHere(root, await changeRun(root.repositories.imports, jobId, 'resume'), bar);
        }),
      )(),
    );
  command
    .command('rejections')
    .description(
      `print a run's first ${KEPT_REJECTIONS} rejected rows, one JSON object a line: {ref, reason} (GET /jobs/{id}/rejections)`,
    )
    .argument('<job-id>')
    .action((jobId: string) =>
      run((config, logger) =>
        withRoot(config, logger, async (root) => {
          const { imports } = root.repositories;
          const found = await imports.getRun(jobId);
          if (!found) throw notFound('import run');
          const kept = await imports.rejections(jobId);
          for (const rejection of kept) process.stdout.write(`${JSON.stringify(rejection)}\n`);
          process.stderr.write(`${found.rowsRejected} rows rejected in all, ${kept.length} kept\n`);
        }),
      )(),
    );
  command
    .command('file')
    .description(
      'import a CSV or JSON Lines file as events, or as profiles with --target profiles (saved as an import, so its runs can be seen and resumed; the same file and options again reuse it)',
    )
    .argument('<path>')
    .addOption(
      new Option('--target <target>', 'events: a row is an event; profiles: a row sets a profile')
        .choices(TARGETS)
        .default('events'),
    )
    .option('--event-type <type>', 'events: the type of the events the rows become (of those without --type)')
    .option('--type <column>', "events: the column holding each row's event type")
    .option('--source <event-source-id>', 'events: the event source the events come from')
    .addOption(new Option('--format <format>', 'csv or jsonl; default: by the file name').choices(['csv', 'jsonl']))
    .option('--delimiter <char>', 'CSV delimiter', ',')
    .option('--quote <char>', 'CSV quote', '"')
    .option('--no-header', 'CSV: the first row is data (columns are column_1, column_2, …)')
    .option('--encoding <label>', 'file encoding', 'utf-8')
    .option('--profile <column>', "the column that identifies the person (profiles: the profile's id)")
    .option('--identity-key <path>', 'profiles, instead of --profile: the identity key naming the profile (pii.email)')
    .option('--trait <path=column>', 'profiles: a trait the column sets (repeat it)', pathToColumn)
    .option('--pii <path=column>', 'profiles: a PII field the column sets (repeat it)', pathToColumn)
    .option('--session <column>', 'events: the column that identifies the session')
    .option('--time <column>', 'events: the column holding when the event happened (ISO 8601)')
    .option('--time-zone <name>', 'the IANA time zone (Europe/Warsaw) of times written without an offset; default UTC')
    .option('--batch-size <n>', 'rows per batch')
    .option('--rows-per-second <n>', 'throttle')
    .action(
      (
        path: string,
        options: {
          target: (typeof TARGETS)[number];
          eventType?: string;
          type?: string;
          source?: string;
          format?: 'csv' | 'jsonl';
          delimiter: string;
          quote: string;
          header: boolean;
          encoding: string;
          profile?: string;
          identityKey?: string;
          trait?: Record<string, string>;
          pii?: Record<string, string>;
          session?: string;
          time?: string;
          timeZone?: string;
          batchSize?: string;
          rowsPerSecond?: string;
        },
      ) =>
        run(async (config, logger) => {
          const full = resolve(path);
          // Nothing is saved for a file that is not there: its run would fail at once.
          const unreadable = await unreadableFile(full);
          if (unreadable) throw new ConfigError('import', unreadable);
          await withRoot(config, logger, async (root, bar) => {
            const format = options.format ?? (/\.(jsonl|ndjson)$/i.test(full) ? 'jsonl' : 'csv');
            const number = (flag: string, text: string | undefined) => {
              if (text === undefined) return undefined;
              const value = Number(text);
              if (!(value > 0 && Number.isFinite(value))) throw new ConfigError(flag, 'expected a number > 0');
              return value;
            };
            const draft: ImportDraft = {
              name: `file ${basename(full)}`,
              description: `meridian import file ${full}`,
              source:
                format === 'csv'
                  ? {
                      kind: 'csv',
                      path: full,
                      header: options.header,
                      delimiter: options.delimiter,
                      quote: options.quote,
                      encoding: options.encoding,
                    }
                  : { kind: 'jsonl', path: full, encoding: options.encoding },
              ...(options.source === undefined ? {} : { eventSourceId: options.source }),
              ...(options.eventType === undefined ? {} : { eventType: options.eventType }),
              target: options.target,
              mapping: {
                ...(options.type ? { type: options.type } : {}),
                ...(options.profile ? { profileId: options.profile } : {}),
                ...(options.identityKey ? { identityKey: options.identityKey } : {}),
                ...(options.trait ? { traits: options.trait } : {}),
                ...(options.pii ? { pii: options.pii } : {}),
                ...(options.session ? { sessionId: options.session } : {}),
                ...(options.time ? { time: options.time } : {}),
              },
              options: {
                ...(options.batchSize ? { batchSize: number('--batch-size', options.batchSize) } : {}),
                ...(options.rowsPerSecond ? { rowsPerSecond: number('--rows-per-second', options.rowsPerSecond) } : {}),
                ...(options.timeZone ? { timeZone: options.timeZone } : {}),
              },
            };
            const needed = eventNamesNeeded(draft);
            const required = 'required for an import of events (--target events, the default)';
            if (needed.eventType && draft.eventType === undefined) throw new ConfigError('--event-type', required);
            if (needed.eventSourceId && draft.eventSourceId === undefined) throw new ConfigError('--source', required);
            checkDraft(draft);
            await checkImportReferences(draft, root.repositories.sources);
            const { imports } = root.repositories;
            const id = fileImportId(draft);
            // The same command again is a new run of the import it saved, its options as given now; a
            // disabled import stays disabled.
            const before = await imports.get(id);
            const saved =
              (before && (await imports.update(id, { ...draft, enabled: before.enabled }, undefined))) ??
              (await imports.create(id, draft, undefined));
            process.stderr.write(
              `import ${saved.id} ${before ? 'reused (same file and options)' : 'saved'} (run it again with: meridian import run ${saved.id})\n`,
            );
            await runHere(root, await runToGoOn(imports, saved.id), bar);
          });
        })(),
    );
  return command;
}
