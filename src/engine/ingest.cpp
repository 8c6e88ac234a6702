#include "engine/ingest.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <set>
#include <span>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <utility>

#include <fmt/format.h>

#include "audio/decoder.h"
#include "core/file_util.h"
#include "core/log.h"
#include "core/thread_pool.h"
#include "engine/audio_files.h"
#include "fingerprint/fingerprint.h"
#include "models/model_registry.h"

namespace earshot {
namespace fs = std::filesystem;

namespace {

struct IndexOutcome {
    std::size_t seq = 0;
    std::string key;
    Result<Catalog::PutRequest> result = make_error(ErrorCode::kInternal, "not run");
    double audio_s = 0.0;
};

// A file that is not embedded: logged, counted as failed and listed with its reason.
void record_failure(IndexReport& report, std::string path, std::string reason) {
    log_warning("skipped '{}': {}", path, reason);
    report.counts.failed++;
    report.failures.push_back({std::move(path), std::move(reason)});
}

// The walk's files count in the total; the ones it skipped (not regular files, links out of a
// loop, unreadable folders) are failed and done at once (ingest_files and ingest_shared alike).
void record_walk_skips(IndexReport& report, CollectedFiles& collected) {
    report.counts.total = collected.files.size() + collected.skipped.size();
    for (auto& f : collected.skipped) {
        record_failure(report, std::move(f.path), std::move(f.reason));
        report.counts.done++;
    }
}

// The catalog `meta` key holding the digest of the weights a space was embedded with.
constexpr std::string_view kModelDigestKey = "model_digest:";
// Shared ingest: the digest of the weights the last `index` run that queued files for a space
// embeds with. A `worker` (no paths) embeds queued files only with these weights.
constexpr std::string_view kQueuedDigestKey = "model_digest_queued:";

// What a model's weights are now: hash_file of its weights file, or of each file of a weights
// folder (name and content, in name order); empty for models without weights (mfcc).
Result<std::string> weights_digest(const ModelInfo& info) {
    const fs::path& p = info.weights_path;
    if (p.empty())
        return std::string();
    std::error_code ec;
    if (!fs::is_directory(p, ec))
        return hash_file(p);
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(p, ec)) {
        std::error_code fec;
        if (e.is_regular_file(fec))
            files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    std::string all;
    for (const auto& f : files) {
        EARSHOT_ASSIGN_OR_RETURN(auto h, hash_file(f));
        all += f.filename().string() + "=" + h + ";";
    }
    return fmt::format("{:016x}", hash_bytes(all.data(), all.size()));
}

// A space embedded with other weights than the model's now (a model file replaced, a trained
// model trained again under the same name): its items are embedded again, whether or not their
// files changed, and the new digest is stored once every one of them has been.
struct WeightsCheck {
    std::string key;     // meta key; empty: the model has no weights to compare
    std::string digest;  // the weights now
    bool store = false;  // store digest after the run (first run with digests, or changed)
    bool changed = false;
    std::int64_t generation = -1;         // the space's generation before the run (changed)
    std::vector<std::int64_t> stale_ids;  // items embedded with the other weights (changed)
};

// Compares the model's weights with the digest stored for the space. When they differ, the files
// of the space's items (root/key for relative keys) are added to collected.files (once) so that
// the run embeds them again; imported records (codec "import") are not the model's and are left
// as they are.
Result<WeightsCheck> check_weights(const IngestContext& ctx,
                                   const ModelInfo& info,
                                   const std::string& space,
                                   const fs::path& root,
                                   CollectedFiles& collected) {
    WeightsCheck w;
    EARSHOT_ASSIGN_OR_RETURN(w.digest, weights_digest(info));
    if (w.digest.empty())
        return w;
    w.key = std::string(kModelDigestKey) + space;
    EARSHOT_ASSIGN_OR_RETURN(auto stored, ctx.catalog.get_meta(w.key));
    if (stored == w.digest)
        return w;
    w.store = true;
    if (stored.empty())
        return w;  // embedded before digests were kept (or a new space): taken as it is
    auto generation = ctx.catalog.space_generation(space);
    if (!generation)
        return w;  // no such space yet
    w.generation = *generation;
    w.changed = true;
    EARSHOT_ASSIGN_OR_RETURN(auto rows, ctx.catalog.load_embeddings_since(space, -1, false));
    std::set<std::string> given;
    for (const auto& f : collected.files) {
        if (auto k = item_key(f, root))
            given.insert(*k);
    }
    constexpr std::size_t kBatch = 1024;
    for (std::size_t at = 0; at < rows.ids.size(); at += kBatch) {
        const std::size_t n = std::min(kBatch, rows.ids.size() - at);
        EARSHOT_ASSIGN_OR_RETURN(auto items,
                                 ctx.catalog.get_items(std::span(rows.ids).subspan(at, n)));
        for (const auto& it : items) {
            if (it.codec == "import")
                continue;
            w.stale_ids.push_back(it.id);
            if (given.count(it.path) != 0)
                continue;
            fs::path file = it.path;
            if (file.is_relative() && !root.empty())
                file = root / file;
            collected.files.push_back(file);
        }
    }
    log_warning(
        "the weights of model '{}' changed since space '{}' was embedded (digest {} -> {}): its {} "
        "item(s) are embedded again",
        info.name, space, stored, w.digest, w.stale_ids.size());
    return w;
}

// After a run: stores the digest when the space no longer holds vectors of other weights.
Status finish_weights(const IngestContext& ctx, const WeightsCheck& w, const std::string& space) {
    if (!w.store)
        return {};
    if (w.changed) {
        // Two id-only reads: the rows written since the run began, and the rows there now (an
        // item removed meanwhile no longer counts).
        EARSHOT_ASSIGN_OR_RETURN(auto fresh,
                                 ctx.catalog.load_embeddings_since(space, w.generation, false));
        EARSHOT_ASSIGN_OR_RETURN(auto now, ctx.catalog.load_embeddings_since(space, -1, false));
        const std::set<std::int64_t> rewritten(fresh.ids.begin(), fresh.ids.end());
        const std::set<std::int64_t> present(now.ids.begin(), now.ids.end());
        std::size_t left = 0;
        for (auto id : w.stale_ids)
            left += present.count(id) != 0 && rewritten.count(id) == 0 ? 1 : 0;
        if (left > 0) {
            log_warning(
                "{} item(s) of space '{}' still hold vectors of the previous weights (their files "
                "failed or are gone): `earshot index` embeds them again next time; `earshot "
                "remove` drops them",
                left, space);
            return {};
        }
    }
    return ctx.catalog.put_meta(w.key, w.digest);
}
// A worker with no paths of its own: its model's weights must be the ones the space's queued
// files are embedded with (those of the last `index` run that queued files, else those the
// space was embedded with), or it would mix vectors of two models into one space.
Status check_worker_weights(const IngestContext& ctx,
                            const ModelInfo& info,
                            const std::string& space,
                            const std::string& queued_key) {
    EARSHOT_ASSIGN_OR_RETURN(auto mine, weights_digest(info));
    if (mine.empty())
        return {};
    EARSHOT_ASSIGN_OR_RETURN(auto wanted, ctx.catalog.get_meta(queued_key));
    if (wanted.empty()) {
        EARSHOT_ASSIGN_OR_RETURN(wanted,
                                 ctx.catalog.get_meta(std::string(kModelDigestKey) + space));
    }
    if (wanted.empty() || wanted == mine)
        return {};
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format("model '{}': this worker's weights ({}, digest {}) are not the ones space '{}' "
                    "is embedded with (digest {}); a worker needs the same weights file as the "
                    "`index` run that queued the files (docs/scaling.md)",
                    info.name, info.weights_path.string(), mine, space, wanted));
}
}  // namespace

std::int64_t file_mtime_ns(const fs::path& p) {
    std::error_code ec;
    auto t = fs::last_write_time(p, ec);
    if (ec)
        return 0;
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// The catalog key of a file: its absolute path, or its path relative to root ('/'-separated).
Result<std::string> item_key(const fs::path& file, const fs::path& root) {
    const std::string abs = catalog_path(file);
    if (root.empty())
        return abs;
    const fs::path rel = fs::path(abs).lexically_relative(catalog_path(root));
    if (rel.empty() || *rel.begin() == "..") {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("'{}' is not under --root '{}'", abs, root.string()));
    }
    return rel.generic_string();
}

// The local file of a key (inverse of item_key).
fs::path key_file(const std::string& key, const fs::path& root) {
    return root.empty() ? fs::path(key) : root / key;
}

Result<Segmenting> ingest_segmenting(const ModelInfo& info, const IndexOptions& options) {
    Segmenting segmenting = default_segmenting(info);
    if (options.segment_s) {
        segmenting.window_s = *options.segment_s;
        segmenting.hop_s = options.segment_hop_s.value_or(segmenting.window_s / 2.0);
    } else if (options.segment_hop_s && segmenting.window_s > 0.0) {
        segmenting.hop_s = *options.segment_hop_s;
    }
    if (segmenting.window_s < 0.0 ||
        (segmenting.window_s > 0.0 &&
         (segmenting.hop_s <= 0.0 || segmenting.hop_s > segmenting.window_s))) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("segment length {} s / hop {} s: the length must be >= 0 "
                                      "(0 = the model's own segments) and the hop in (0, length]",
                                      segmenting.window_s, segmenting.hop_s));
    }
    return segmenting;
}

Result<Catalog::PutRequest> embed_for_catalog(const IngestFile& job,
                                              const EmbeddingModel& model,
                                              const Segmenting& segmenting) {
    // The walk saw a regular file; if it has been replaced by a FIFO or device since, opening it
    // could block or never end.
    struct stat st {};
    if (::stat(job.file.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("{}, not a regular file", file_kind(st.st_mode)));
    }
    // One decode for both the fingerprint (docs/dedup.md) and the embedding.
    DecodeOptions opts;
    opts.target_sample_rate_hz = model.info().sample_rate_hz;
    AudioInfo info;
    EARSHOT_ASSIGN_OR_RETURN(auto audio, decode_audio(job.file, opts, &info));
    EARSHOT_ASSIGN_OR_RETURN(auto fp, compute_fingerprint(audio.samples, audio.sample_rate_hz));
    auto embedded = embed_buffer(std::move(audio), info, model, kMaxItemTags, segmenting);
    if (!embedded) {
        return tl::unexpected(
            embedded.error().with_context(fmt::format("embed '{}'", job.file.string())));
    }
    auto& emb = *embedded;
    EARSHOT_ASSIGN_OR_RETURN(auto hash, hash_file(job.file));
    Catalog::PutRequest req;
    req.fingerprint = encode_fingerprint(fp);
    req.fingerprint_version = fp.version;
    ItemRecord& it = req.item;
    it.path = job.key;
    it.name = job.file.filename().string();
    it.duration_s = emb.info.duration_s;
    it.sample_rate_hz = emb.info.sample_rate_hz;
    it.channels = emb.info.channels;
    it.codec = emb.info.codec;
    it.size_bytes = job.size_bytes;
    it.mtime_ns = job.mtime_ns;
    it.content_hash = hash;
    it.title = emb.info.title;
    it.artist = emb.info.artist;
    it.labels = labels_text(emb.labels, 3);
    if (!model.info().labels.empty())
        req.tags = tags_from_labels(emb.labels);  // models without a head leave tags as they are
    req.vector = std::move(emb.embedding);
    req.segments = std::move(emb.segments.segments);
    req.segment_times.reserve(emb.segments.start_s.size());
    for (std::size_t i = 0; i < emb.segments.start_s.size(); ++i) {
        req.segment_times.push_back({emb.segments.start_s[i], emb.segments.end_s[i]});
    }
    return req;
}

Result<IndexReport> ingest_files(const IngestContext& ctx,
                                 const EmbeddingModel& model_in,
                                 const IndexOptions& options) {
    auto t0 = std::chrono::steady_clock::now();
    const EmbeddingModel* model = &model_in;
    const std::string space = model->info().name;
    EARSHOT_ASSIGN_OR_RETURN(const Segmenting segmenting,
                             ingest_segmenting(model->info(), options));

    // 1. Collect files (sorted; each real file once; non-regular files skipped with a reason),
    // plus the files of the space's items when the model's weights changed since.
    EARSHOT_ASSIGN_OR_RETURN(auto collected, collect_audio_files(options.paths));
    EARSHOT_ASSIGN_OR_RETURN(const WeightsCheck weights,
                             check_weights(ctx, model->info(), space, options.root, collected));
    const bool force = options.force || weights.changed;
    std::vector<fs::path>& files = collected.files;

    IndexReport report;
    record_walk_skips(report, collected);

    // 2. Decide which files need work.
    std::vector<IngestFile> jobs;
    for (const auto& f : files) {
        IngestFile job;
        job.file = f;
        auto key = item_key(f, options.root);
        if (!key) {
            record_failure(report, catalog_path(f), key.error().message());
            report.counts.done++;
            continue;
        }
        job.key = *key;
        std::error_code ec;
        job.size_bytes = static_cast<std::int64_t>(fs::file_size(f, ec));
        job.mtime_ns = file_mtime_ns(f);
        if (!force) {
            auto existing = ctx.catalog.find_by_path(job.key);
            if (!existing)
                return tl::unexpected(existing.error());
            if (existing->has_value() && (*existing)->size_bytes == job.size_bytes &&
                (*existing)->mtime_ns == job.mtime_ns) {
                auto has = ctx.catalog.has_embedding((*existing)->id, space);
                if (!has)
                    return tl::unexpected(has.error());
                if (*has) {
                    report.counts.unchanged++;
                    report.counts.done++;
                    continue;
                }
            }
        }
        jobs.push_back(std::move(job));
    }
    if (options.on_progress)
        options.on_progress(report.counts);

    // 3. Workers embed; this thread writes batches in order of completion.
    const int n_workers =
        std::max(1, std::min<int>(ctx.threads > 0 ? ctx.threads : hardware_threads(),
                                  static_cast<int>(jobs.size())));
    if (n_workers > 1)
        set_inference_threads(1);
    std::mutex mu;
    std::condition_variable cv;
    std::deque<IndexOutcome> done_queue;
    std::atomic<std::size_t> next{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> workers;
    for (int w = 0; w < (jobs.empty() ? 0 : n_workers); ++w) {
        workers.emplace_back([&] {
            for (;;) {
                if (stop.load())
                    return;
                std::size_t i = next.fetch_add(1);
                if (i >= jobs.size())
                    return;
                IndexOutcome out;
                out.seq = i;
                out.key = jobs[i].key;
                try {
                    out.result = embed_for_catalog(jobs[i], *model, segmenting);
                } catch (const std::exception& e) {  // e.g. std::bad_alloc: this file only
                    out.result = make_error(ErrorCode::kInternal,
                                            fmt::format("unexpected error: {}", e.what()));
                }
                {
                    std::lock_guard lock(mu);
                    done_queue.push_back(std::move(out));
                }
                cv.notify_one();
            }
        });
    }

    std::vector<Catalog::PutRequest> batch;
    Status write_status = ok_status();
    // One transaction per batch. If the catalog refuses a batch for an item's own data
    // (kInvalidArgument: a non-finite value, a dim mismatch, ...), the items are written one by
    // one and only those refused are reported, so that no single file stops the run.
    auto flush = [&]() -> Status {
        if (batch.empty())
            return ok_status();
        auto ids = ctx.catalog.put_items(space, batch);
        if (!ids && ids.error().code() == ErrorCode::kInvalidArgument) {
            for (auto& req : batch) {
                std::vector<Catalog::PutRequest> one;
                one.push_back(std::move(req));
                auto id = ctx.catalog.put_items(space, one);
                if (id)
                    continue;
                if (id.error().code() != ErrorCode::kInvalidArgument) {
                    batch.clear();
                    return tl::unexpected(id.error());
                }
                report.counts.added--;
                report.counts.audio_s -= one.front().item.duration_s;
                record_failure(report, one.front().item.path, id.error().message());
            }
            batch.clear();
            return ok_status();
        }
        batch.clear();
        if (!ids)
            return tl::unexpected(ids.error());
        return ok_status();
    };
    auto last_poll = std::chrono::steady_clock::now();
    auto stop_requested = [&] {  // options.should_stop, at most every 100 ms
        const auto now = std::chrono::steady_clock::now();
        if (!options.should_stop || now - last_poll < std::chrono::milliseconds(100))
            return false;
        last_poll = now;
        return options.should_stop();
    };
    std::size_t received = 0;
    while (received < jobs.size()) {
        IndexOutcome out;
        for (bool have = false; !have;) {
            {
                std::unique_lock lock(mu);
                if (cv.wait_for(lock, std::chrono::milliseconds(100),
                                [&] { return !done_queue.empty(); })) {
                    out = std::move(done_queue.front());
                    done_queue.pop_front();
                    have = true;
                }
            }
            if (stop_requested()) {
                report.cancelled = true;
                break;
            }
        }
        if (report.cancelled) {
            stop = true;
            break;
        }
        ++received;
        report.counts.done++;
        report.counts.current = out.key;
        if (!out.result) {
            record_failure(report, out.key, out.result.error().message());
        } else {
            report.counts.added++;
            report.counts.audio_s += out.result->item.duration_s;
            batch.push_back(std::move(*out.result));
            if (batch.size() >= options.batch_size) {
                write_status = flush();
                if (!write_status) {
                    stop = true;
                    break;
                }
            }
        }
        if (options.on_progress)
            options.on_progress(report.counts);
    }
    for (auto& w : workers) w.join();
    if (write_status)
        write_status = flush();
    if (n_workers > 1)
        set_inference_threads(ctx.threads);
    if (!write_status) {
        return tl::unexpected(write_status.error().with_context(
            fmt::format("writing to catalog '{}'", ctx.catalog_name)));
    }
    if (!report.cancelled)
        EARSHOT_RETURN_IF_ERROR(finish_weights(ctx, weights, space));
    report.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return report;
}

Result<IndexReport> ingest_shared(const IngestContext& ctx,
                                  IngestQueue& queue_in,
                                  const EmbeddingModel& model_in,
                                  const IndexOptions& options) {
    IngestQueue* queue = &queue_in;
    auto t0 = std::chrono::steady_clock::now();
    const EmbeddingModel* model = &model_in;
    const std::string space = model->info().name;
    IndexReport report;

    // 1. Queue the files (skipping those already embedded and unchanged).
    WeightsCheck weights;
    const std::string queued_key = std::string(kQueuedDigestKey) + space;
    if (options.paths.empty()) {
        EARSHOT_RETURN_IF_ERROR(check_worker_weights(ctx, model->info(), space, queued_key));
    } else {
        EARSHOT_ASSIGN_OR_RETURN(auto collected, collect_audio_files(options.paths));
        EARSHOT_ASSIGN_OR_RETURN(weights,
                                 check_weights(ctx, model->info(), space, options.root, collected));
        if (!weights.digest.empty()) {
            EARSHOT_ASSIGN_OR_RETURN(auto queued, ctx.catalog.get_meta(queued_key));
            if (queued != weights.digest)
                EARSHOT_RETURN_IF_ERROR(ctx.catalog.put_meta(queued_key, weights.digest));
        }
        record_walk_skips(report, collected);
        std::vector<fs::path>& files = collected.files;
        std::vector<IngestJob> jobs;
        for (const auto& f : files) {
            auto key = item_key(f, options.root);
            if (!key) {
                record_failure(report, catalog_path(f), key.error().message());
                report.counts.done++;
                continue;
            }
            std::error_code ec;
            IngestJob job{*key, static_cast<std::int64_t>(fs::file_size(f, ec)), file_mtime_ns(f),
                          0};
            if (!options.force && !weights.changed) {
                EARSHOT_ASSIGN_OR_RETURN(auto existing, ctx.catalog.find_by_path(job.key));
                if (existing && existing->size_bytes == job.size_bytes &&
                    existing->mtime_ns == job.mtime_ns) {
                    EARSHOT_ASSIGN_OR_RETURN(bool has,
                                             ctx.catalog.has_embedding(existing->id, space));
                    if (has) {
                        report.counts.unchanged++;
                        report.counts.done++;
                        continue;
                    }
                }
            }
            jobs.push_back(std::move(job));
        }
        EARSHOT_ASSIGN_OR_RETURN(
            auto queued, queue->enqueue_jobs(space, jobs, options.force || weights.changed));
        log_info("queued {} file(s) of {} for '{}' ({} already queued or done)", queued.queued,
                 files.size(), space, queued.skipped);
    }
    if (options.on_progress)
        options.on_progress(report.counts);

    // 2. Work: claim a batch, embed it with the threads, store it and mark it done in one
    // transaction; a heartbeat thread renews the leases meanwhile.
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0)
        std::snprintf(host, sizeof host, "host");
    const std::string worker = fmt::format("{}:{}", host, static_cast<long>(getpid()));
    const double lease_s = std::max(options.lease_s, 0.5);
    std::mutex state_mu;
    std::string state = "working";
    std::atomic<bool> stop_heartbeat{false};
    std::condition_variable heartbeat_cv;
    auto beat = [&]() -> Status {
        std::string st;
        {
            std::lock_guard lock(state_mu);
            st = state;
        }
        return queue->heartbeat(worker, space, st, lease_s);
    };
    EARSHOT_RETURN_IF_ERROR(beat());
    std::thread heartbeat([&] {
        std::unique_lock lock(state_mu);
        while (!stop_heartbeat.load()) {
            heartbeat_cv.wait_for(lock, std::chrono::duration<double>(lease_s / 3.0));
            if (stop_heartbeat.load())
                break;
            lock.unlock();
            auto b = beat();
            if (!b)
                log_warning("worker {}: heartbeat failed: {}", worker, b.error().message());
            lock.lock();
        }
    });
    auto set_state = [&](const std::string& st) {
        std::lock_guard lock(state_mu);
        state = st;
    };

    const int n_threads = std::max(1, ctx.threads > 0 ? ctx.threads : hardware_threads());
    if (n_threads > 1)
        set_inference_threads(1);
    const std::size_t claim_n = std::max<std::size_t>(
        1, std::min<std::size_t>(options.batch_size, static_cast<std::size_t>(2 * n_threads)));
    Status status = ok_status();
    for (;;) {
        auto claimed = queue->claim_jobs(space, worker, claim_n, lease_s, options.max_attempts);
        if (!claimed) {
            status = tl::unexpected(claimed.error());
            break;
        }
        if (claimed->empty()) {
            auto counts = queue->job_counts(space);
            if (!counts) {
                status = tl::unexpected(counts.error());
                break;
            }
            if (counts->queued == 0 && counts->running == 0)
                break;
            // Others hold the rest: wait for them to finish, or for their leases to expire.
            set_state("waiting");
            std::this_thread::sleep_for(
                std::chrono::duration<double>(std::min(0.5, lease_s / 4.0)));
            continue;
        }
        set_state("working");
        const auto& jobs = *claimed;
        std::vector<std::optional<Result<Catalog::PutRequest>>> results(jobs.size());
        std::atomic<std::size_t> next{0};
        auto work = [&] {
            for (std::size_t i = next.fetch_add(1); i < jobs.size(); i = next.fetch_add(1)) {
                IngestFile job;
                job.file = key_file(jobs[i].key, options.root);
                job.key = jobs[i].key;
                std::error_code ec;
                const auto size = fs::file_size(job.file, ec);
                job.size_bytes = ec ? jobs[i].size_bytes : static_cast<std::int64_t>(size);
                job.mtime_ns = file_mtime_ns(job.file);
                results[i] = embed_for_catalog(job, *model, default_segmenting(model->info()));
            }
        };
        std::vector<std::thread> threads;
        const int n_batch_threads = std::min<int>(n_threads, static_cast<int>(jobs.size()));
        for (int t = 1; t < n_batch_threads; ++t) threads.emplace_back(work);
        work();
        for (auto& t : threads) t.join();
        std::vector<Catalog::PutRequest> done;
        std::vector<JobFailure> failed;
        for (std::size_t i = 0; i < jobs.size(); ++i) {
            auto& r = *results[i];
            if (r) {
                report.counts.audio_s += r->item.duration_s;
                done.push_back(std::move(*r));
            } else {
                failed.push_back({jobs[i].key, r.error().message()});
                log_warning("skipped '{}': {}", jobs[i].key, r.error().message());
            }
        }
        auto ids = queue->finish_jobs(space, worker, done, failed);
        if (!ids) {
            status = tl::unexpected(ids.error());
            break;
        }
        report.counts.added += done.size();
        report.counts.failed += failed.size();
        report.counts.done += jobs.size();
        for (auto& f : failed) report.failures.push_back({f.key, f.reason});
        report.counts.current = jobs.back().key;
        if (options.on_progress)
            options.on_progress(report.counts);
    }
    set_state(status ? "finished" : "failed");
    stop_heartbeat = true;
    heartbeat_cv.notify_all();
    heartbeat.join();
    (void)beat();
    if (n_threads > 1)
        set_inference_threads(ctx.threads);
    if (!status) {
        return tl::unexpected(status.error().with_context(
            fmt::format("worker {} on catalog '{}'", worker, ctx.catalog_name)));
    }
    if (!report.cancelled)
        EARSHOT_RETURN_IF_ERROR(finish_weights(ctx, weights, space));
    report.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return report;
}

Result<TagFillReport> fill_item_tags(
    const IngestContext& ctx,
    const EmbeddingModel& model,
    bool force,
    const fs::path& root,
    const std::function<void(std::size_t, std::size_t)>& on_progress) {
    const auto t0 = std::chrono::steady_clock::now();
    const EmbeddingModel* m = &model;
    if (m->info().labels.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("model '{}' has no classifier head, so it gives no tags "
                                      "(models with tags: mn04, yamnet, musicnn)",
                                      m->info().name));
    }
    std::vector<std::int64_t> ids;
    if (force) {
        EARSHOT_ASSIGN_OR_RETURN(ids, ctx.catalog.filter_ids(ItemFilter{}));
    } else {
        EARSHOT_ASSIGN_OR_RETURN(ids, ctx.catalog.items_without_tags());
    }
    TagFillReport rep;
    rep.total = ids.size();
    const std::size_t n_threads = static_cast<std::size_t>(
        std::max(1, std::min<int>(ctx.threads > 0 ? ctx.threads : hardware_threads(),
                                  static_cast<int>(std::max<std::size_t>(1, ids.size())))));
    if (n_threads > 1)
        set_inference_threads(1);
    struct RestoreThreads {
        int threads;
        bool on;
        ~RestoreThreads() {
            if (on)
                set_inference_threads(threads);
        }
    } restore{ctx.threads, n_threads > 1};
    constexpr std::size_t kBatch = 64;
    for (std::size_t start = 0; start < ids.size(); start += kBatch) {
        const std::size_t end = std::min(ids.size(), start + kBatch);
        std::vector<std::optional<Result<std::vector<TagScore>>>> out(end - start);
        std::vector<std::string> paths(end - start);
        std::atomic<std::size_t> next{start};
        auto work = [&] {
            for (std::size_t i = next.fetch_add(1); i < end; i = next.fetch_add(1)) {
                auto item = ctx.catalog.get_item(ids[i]);
                if (!item) {
                    out[i - start] = tl::unexpected(item.error());
                    continue;
                }
                paths[i - start] = item->path;
                const fs::path file = root.empty() || fs::path(item->path).is_absolute()
                                          ? fs::path(item->path)
                                          : root / item->path;
                auto emb = embed_audio_file(file, *m, kMaxItemTags);
                if (!emb)
                    out[i - start] = tl::unexpected(emb.error());
                else
                    out[i - start] = tags_from_labels(emb->labels);
            }
        };
        std::vector<std::thread> threads;
        for (std::size_t t = 1; t < n_threads; ++t) threads.emplace_back(work);
        work();
        for (auto& t : threads) t.join();
        std::vector<ItemTags> batch;
        for (std::size_t i = start; i < end; ++i) {
            auto& r = *out[i - start];
            if (!r) {
                if (r.error().code() == ErrorCode::kNotFound && paths[i - start].empty())
                    continue;  // removed meanwhile
                ++rep.failed;
                rep.failures.push_back({paths[i - start], r.error().message()});
                continue;
            }
            if (!r->empty())
                ++rep.tagged;
            batch.push_back({ids[i], std::move(*r)});
        }
        auto stored = ctx.catalog.set_tags(batch);
        if (!stored && stored.error().code() == ErrorCode::kNotFound) {
            // An item was removed meanwhile: store the others one by one.
            for (const auto& b : batch) (void)ctx.catalog.set_tags({b});
        } else if (!stored) {
            return tl::unexpected(stored.error());
        }
        if (on_progress)
            on_progress(end, ids.size());
    }
    rep.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return rep;
}

}  // namespace earshot
