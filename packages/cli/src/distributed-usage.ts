/**
 * The usage text of the queue and shard commands, apart from their code (distributed.ts), so the
 * dispatcher loads BullMQ and ioredis only when one of them runs.
 */
export const DISTRIBUTED_USAGE = `  tracelab explore <scenario> --variant V [...] --queue redis://HOST:PORT [--chunk-size N] [--redis-timeout MS]
      this process coordinates: queues the chunks of schedule numbers as BullMQ jobs, collects
      what the workers store, stops at the first failing chunk, shrinks and prints as above (the
      same answer as one process); run it again with the same options to resume. <scenario> is a
      catalog name or path/to/module.js#exportName
  tracelab explore <scenario> --variant V [...] --shard I/N [--result FILE] [--chunk-size N]
      runs shard I of N (chunks I, I+N, ...) and writes its results to FILE
      (default ./tracelab-shard-I-of-N.json), for batch engines without a queue
  tracelab merge FILE... [--out DIR] [--json]
      folds shard files into the answer one process gives, shrinks and prints it
  tracelab worker --queue redis://HOST:PORT [--concurrency N] [--lock-duration MS] [--stalled-interval MS] [--redis-timeout MS]
      runs chunks of any exploration on the queue (N threads) until stopped (SIGTERM or SIGINT);
      --queue-name NAME (default tracelab-explore) on the workers and the coordinator keeps fleets apart`;

/** Whether `tracelab explore` arguments ask for a queue or a shard (distributed.ts's commands). */
export function isDistributed(argv: readonly string[]): boolean {
  return argv.includes('--queue') || argv.includes('--shard');
}
