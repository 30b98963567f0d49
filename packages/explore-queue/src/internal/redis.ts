import { TracelabError } from '@tracelab/core';

/** What BullMQ and ioredis need to reach one Redis: parsed from a `redis://` URL. */
export interface RedisTarget {
  /** The URL as given, for messages (the password, if any, replaced by `***`). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly username?: string;
  readonly password?: string;
  readonly db: number;
}

/** Parses `redis://[user[:password]@]host[:port][/db]`; anything else is `INVALID_OPTION`. */
export function parseRedisUrl(url: string): RedisTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TracelabError('INVALID_OPTION', `queue: ${JSON.stringify(url)} is not a URL; expected redis://HOST:PORT`);
  }
  if (u.protocol !== 'redis:') throw new TracelabError('INVALID_OPTION', `queue: ${JSON.stringify(url)} is not a redis:// URL; expected redis://HOST:PORT`);
  const authority = url.slice('redis://'.length).split('/')[0]!;
  if (authority.endsWith(':')) throw new TracelabError('INVALID_OPTION', `queue: ${JSON.stringify(url)} has an empty port; expected redis://HOST:PORT`);
  if (u.hostname === '') throw new TracelabError('INVALID_OPTION', `queue: ${JSON.stringify(url)} names no host; expected redis://HOST:PORT`);
  const port = u.port === '' ? 6379 : Number(u.port);
  const path = u.pathname.replace(/^\//, '');
  const db = path === '' ? 0 : Number(path);
  if (!Number.isInteger(db) || db < 0)
    throw new TracelabError('INVALID_OPTION', `queue: ${JSON.stringify(url)}: the database must be a number (redis://HOST:PORT/0)`);
  const shown = u.password === '' ? url : url.replace(`:${u.password}@`, ':***@');
  return {
    url: shown,
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    db,
    ...(u.username !== '' ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password !== '' ? { password: decodeURIComponent(u.password) } : {}),
  };
}

/**
 * ioredis options for BullMQ: reconnect every 250 ms (BullMQ's default backs off to 20 s),
 * connect within `timeoutMs`. Commands wait while disconnected; the callers bound every wait
 * with `within`, so a Redis that went away becomes `QUEUE_UNREACHABLE` after `timeoutMs`.
 */
export function connectionOptions(t: RedisTarget, timeoutMs: number): Record<string, unknown> {
  return {
    host: t.host,
    port: t.port,
    db: t.db,
    ...(t.username !== undefined ? { username: t.username } : {}),
    ...(t.password !== undefined ? { password: t.password } : {}),
    maxRetriesPerRequest: null,
    connectTimeout: Math.max(200, Math.min(timeoutMs, 10_000)),
    retryStrategy: () => 250,
  };
}

/** `QUEUE_UNREACHABLE` naming the URL and what was being done; `failed` says how it failed. */
export function unreachable(t: RedisTarget, what: string, failed: string, cause?: unknown): TracelabError {
  const why = cause instanceof Error && cause.message !== '' ? ` (${cause.message})` : '';
  return new TracelabError(
    'QUEUE_UNREACHABLE',
    `queue: Redis at ${t.url} ${failed} while ${what}${why}; is redis-server running there and reachable?`,
    { url: t.url, what },
    { cause },
  );
}

/**
 * `p`, or `QUEUE_UNREACHABLE` once `timeoutMs` passed without an answer. `lastError` gives the
 * connection's last error for the message.
 */
export async function within<T>(t: RedisTarget, timeoutMs: number, what: string, p: Promise<T>, lastError: () => unknown = () => undefined): Promise<T> {
  // Host-side wall clock, outside the simulation on purpose: a network round trip's time limit,
  // so a Redis that went away becomes QUEUE_UNREACHABLE instead of a hang. Results never depend on it.
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(unreachable(t, what, `did not answer within ${timeoutMs} ms`, lastError())), timeoutMs);
  });
  try {
    return await Promise.race([p, late]);
  } catch (err) {
    if (err instanceof TracelabError) throw err;
    throw unreachable(t, what, 'failed', err);
  } finally {
    clearTimeout(timer);
  }
}

/** Redis keys of one exploration. Jobs live in BullMQ's queue; these are ours. */
export function keysOf(exploration: string): { readonly results: string; readonly errors: string; readonly cutoff: string; readonly meta: string } {
  const base = `tracelab:explore:${exploration}`;
  return { results: `${base}:results`, errors: `${base}:errors`, cutoff: `${base}:cutoff`, meta: `${base}:meta` };
}

/** The BullMQ queue every coordinator and worker of a Redis shares (jobs carry their exploration id). */
export const DEFAULT_QUEUE_NAME = 'tracelab-explore';

/** How long an exploration's results stay in Redis after it last wrote them: a week. */
export const RESULTS_TTL_S = 7 * 24 * 3600;

/**
 * Drops a BullMQ object's connections when Redis may be gone: its `close()` and `disconnect()`
 * wait for Redis (forever, when it does not come back), so neither is awaited past `ms`.
 */
export async function abandon(o: { close(): Promise<void>; disconnect(): Promise<void> }, ms = 500): Promise<void> {
  // Host-side wall clock, outside the simulation on purpose: how long a closing connection may take.
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([Promise.allSettled([o.close(), o.disconnect()]), late]);
  clearTimeout(timer);
}
