// Distributed ingest through the catalog database (PostgreSQL catalogs only; docs/scaling.md).
// A job is one file of one space, keyed like the item it becomes (catalog path or a key relative
// to --root). Workers claim jobs with SELECT ... FOR UPDATE SKIP LOCKED and a lease; a worker
// renews its leases while alive (heartbeat), so the jobs of a worker that died are claimed again
// once its lease expires. A file that fails is recorded as failed with its reason and is not
// retried until it changes (size or mtime) or `index --force` queues it again; a job whose
// worker was lost max_attempts times is recorded as failed too.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "core/status.h"

namespace earshot {

struct IngestJob {
    std::string key;  // item path (catalog key)
    std::int64_t size_bytes = 0;
    std::int64_t mtime_ns = 0;
    int attempts = 0;  // claims so far, including this one (set by claim_jobs)
};

struct EnqueueReport {
    std::int64_t queued = 0;   // new jobs, or jobs queued again (changed file, --force)
    std::int64_t skipped = 0;  // already queued / running / done / failed and unchanged
};

struct JobCounts {
    std::int64_t queued = 0;
    std::int64_t running = 0;
    std::int64_t done = 0;
    std::int64_t failed = 0;
};

struct JobFailure {
    std::string key;
    std::string reason;
};

struct WorkerStatus {
    std::string name;          // "host:pid"
    std::string space;         // space it works on
    std::string state;         // "working", "waiting", "finished"
    std::int64_t running = 0;  // jobs it holds now
    std::int64_t done = 0;     // jobs it finished (since it started)
    std::int64_t failed = 0;
    double seconds_since_heartbeat = 0.0;
};

class IngestQueue {
public:
    virtual ~IngestQueue() = default;

    // Adds jobs for files (upsert by (space, key)): new keys are queued; done or failed jobs are
    // queued again if size or mtime changed, if a done job's item has no vector in the space any
    // more, or with force. Running jobs are left alone.
    virtual Result<EnqueueReport> enqueue_jobs(const std::string& space,
                                               const std::vector<IngestJob>& jobs,
                                               bool force) = 0;
    // Claims up to n jobs (queued, or running with an expired lease) for worker; marks jobs
    // whose lease expired max_attempts times as failed instead.
    virtual Result<std::vector<IngestJob>> claim_jobs(const std::string& space,
                                                      const std::string& worker,
                                                      std::size_t n,
                                                      double lease_s,
                                                      int max_attempts) = 0;
    // In one transaction: stores the embedded items (as Catalog::put_items) and marks their jobs
    // done, marks `failed` jobs failed with their reason — only for jobs this worker still holds
    // (one whose lease expired and that another worker claimed is left to that worker). Returns
    // the ids of the items stored.
    virtual Result<std::vector<std::int64_t>> finish_jobs(
        const std::string& space,
        const std::string& worker,
        const std::vector<Catalog::PutRequest>& done,
        const std::vector<JobFailure>& failed) = 0;
    // Renews the leases of the worker's running jobs and records its state.
    virtual Status heartbeat(const std::string& worker,
                             const std::string& space,
                             const std::string& state,
                             double lease_s) = 0;
    // Job counts of a space (all spaces if empty).
    virtual Result<JobCounts> job_counts(const std::string& space) = 0;
    // Spaces with queued or running jobs.
    virtual Result<std::vector<std::string>> pending_spaces() = 0;
    // Workers seen (most recent heartbeat first).
    virtual Result<std::vector<WorkerStatus>> workers() = 0;
    // Failed jobs of a space (all if empty), by key.
    virtual Result<std::vector<JobFailure>> failed_jobs(const std::string& space,
                                                        std::size_t limit) = 0;
};

// The catalog's ingest queue, or nullptr if its backend has none (SQLite).
IngestQueue* ingest_queue(Catalog& catalog);

}  // namespace earshot
