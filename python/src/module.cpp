// earshot._earshot: the pybind11 extension behind the Python package. python/earshot/__init__.py
// wraps it in the documented API (docs/python.md); this file only converts between Python/numpy
// and the engine. Every call that decodes, embeds, searches or touches the catalog releases the
// GIL. Errors become the exception classes created here (earshot.Error and subclasses that also
// derive from the matching built-in exception) carrying the CLI's one-line messages.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "audio/decoder.h"
#include "core/log.h"
#include "engine/dedup.h"
#include "engine/engine.h"
#include "engine/evaluation.h"
#include "engine/importer.h"
#include "index/metric.h"
#include "models/model_registry.h"

namespace py = pybind11;
namespace fs = std::filesystem;

namespace earshot::python {
namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

// ---------------------------------------------------------------------------------------------
// Errors

struct ExceptionTypes {
    PyObject* error = nullptr;             // earshot.Error (Exception)
    PyObject* invalid_argument = nullptr;  // earshot.InvalidArgumentError (Error, ValueError)
    PyObject* missing_file = nullptr;      // earshot.MissingFileError (Error, FileNotFoundError)
    PyObject* missing_weights = nullptr;   // earshot.MissingWeightsError (Error, FileNotFoundError)
    PyObject* not_found = nullptr;         // earshot.NotFoundError (Error, LookupError)
    PyObject* decode = nullptr;            // earshot.DecodeError (Error)
    PyObject* corrupt_catalog = nullptr;   // earshot.CorruptCatalogError (Error)
    PyObject* storage = nullptr;           // earshot.StorageError (Error, OSError)
};
ExceptionTypes g_exc;

// What a call was doing when the engine failed: the same ErrorCode means different things
// (kNotFound: a missing audio file, missing weights, an unknown item id...).
enum class Stage {
    kOpen,       // opening a catalog
    kModel,      // loading a model (kNotFound = weights missing)
    kDecode,     // reading an audio / manifest file given by the caller
    kQueryFile,  // search by file: decode + search
    kCatalog,    // catalog reads/writes and searches
};

[[noreturn]] void raise(PyObject* type, const std::string& message) {
    PyErr_SetString(type, message.c_str());
    throw py::error_already_set();
}

[[noreturn]] void raise_error(const Error& e, Stage stage, const std::string& file = "") {
    const bool audio = stage == Stage::kDecode || stage == Stage::kQueryFile;
    PyObject* type = g_exc.error;
    switch (e.code()) {
        case ErrorCode::kInvalidArgument:
        case ErrorCode::kAlreadyExists:
            type = g_exc.invalid_argument;
            break;
        case ErrorCode::kNotFound: {
            std::error_code ec;
            if (stage == Stage::kModel)
                type = g_exc.missing_weights;
            else if (stage == Stage::kOpen || stage == Stage::kDecode)
                type = g_exc.missing_file;
            else if (stage == Stage::kQueryFile && !fs::exists(file, ec))
                type = g_exc.missing_file;
            else
                type = g_exc.not_found;
            break;
        }
        case ErrorCode::kCorruption:
            type = audio ? g_exc.decode : g_exc.corrupt_catalog;
            break;
        case ErrorCode::kNotSupported:
            type = audio                   ? g_exc.decode
                   : stage == Stage::kOpen ? g_exc.corrupt_catalog
                                           : g_exc.error;
            break;
        case ErrorCode::kIoError:
            type = g_exc.storage;
            break;
        default:
            break;
    }
    raise(type, e.message());
}

template <typename T>
T unwrap(Result<T> r, Stage stage, const std::string& file = "") {
    if (!r)
        raise_error(r.error(), stage, file);
    return std::move(*r);
}

PyObject* make_exception(py::module_& m,
                         const char* name,
                         const char* doc,
                         std::initializer_list<PyObject*> bases) {
    py::tuple b(bases.size());
    std::size_t i = 0;
    for (PyObject* base : bases) b[i++] = py::reinterpret_borrow<py::object>(base);
    const std::string qualified = std::string("earshot.") + name;
    PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, b.ptr(), nullptr);
    if (type == nullptr)
        throw py::error_already_set();
    m.add_object(name, py::handle(type));  // steals nothing: add_object increments
    return type;
}

// ---------------------------------------------------------------------------------------------
// numpy helpers

py::array_t<float> to_array(const float* data, std::size_t rows, std::size_t cols, bool matrix) {
    py::array_t<float> a =
        matrix
            ? py::array_t<float>({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)})
            : py::array_t<float>(static_cast<py::ssize_t>(cols));
    if (rows * cols > 0)
        std::memcpy(a.mutable_data(), data, rows * cols * sizeof(float));
    return a;
}

// Mono float32 samples from a numpy array: (n,) or (n, channels) (averaged, as the decoder
// down-mixes). Integer PCM (int16, int32) is scaled to [-1, 1].
std::vector<float> samples_from(const py::array& input) {
    py::array a = input;
    double scale = 1.0;
    if (py::isinstance<py::array_t<std::int16_t>>(a))
        scale = 1.0 / 32768.0;
    else if (py::isinstance<py::array_t<std::int32_t>>(a))
        scale = 1.0 / 2147483648.0;
    else if (a.dtype().kind() != 'f')
        raise(g_exc.invalid_argument,
              fmt::format("samples must be float32/float64 (or int16/int32 PCM), got dtype {}",
                          py::str(a.dtype()).cast<std::string>()));
    auto d = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(a);
    if (!d)
        throw py::error_already_set();
    if (d.ndim() != 1 && d.ndim() != 2)
        raise(g_exc.invalid_argument,
              fmt::format("samples must have shape (n,) or (n, channels), got {} dimensions",
                          d.ndim()));
    const auto n = static_cast<std::size_t>(d.shape(0));
    const auto channels = d.ndim() == 2 ? static_cast<std::size_t>(d.shape(1)) : 1;
    if (channels == 0)
        raise(g_exc.invalid_argument, "samples have 0 channels");
    std::vector<float> out(n);
    const double* p = d.data();
    for (std::size_t i = 0; i < n; ++i) {
        double sum = 0.0;
        for (std::size_t c = 0; c < channels; ++c) sum += p[i * channels + c];
        out[i] = static_cast<float>(sum / static_cast<double>(channels) * scale);
    }
    return out;
}

std::vector<float> query_vector(const FloatArray& v) {
    if (v.ndim() != 1)
        raise(g_exc.invalid_argument,
              fmt::format("a query vector must have shape (dim,), got {} dimensions", v.ndim()));
    std::vector<float> out(v.data(), v.data() + v.size());
    if (!std::all_of(out.begin(), out.end(), [](float x) { return std::isfinite(x); }))
        raise(g_exc.invalid_argument, "the query vector contains NaN or infinity");
    return out;
}

// ---------------------------------------------------------------------------------------------
// Embedding

py::dict info_dict(const AudioInfo& info) {
    py::dict d;
    d["duration_s"] = info.duration_s;
    d["sample_rate_hz"] = info.sample_rate_hz;
    d["channels"] = info.channels;
    d["codec"] = info.codec;
    d["title"] = info.title;
    d["artist"] = info.artist;
    return d;
}

// (model, dim, embedding (dim,), segments (n, dim), times (n, 2), labels [(name, score)], info)
py::tuple embed_tuple(const EmbedResult& r) {
    const auto& s = r.segments;
    py::array_t<double> times({static_cast<py::ssize_t>(s.start_s.size()), py::ssize_t{2}});
    auto t = times.mutable_unchecked<2>();
    for (std::size_t i = 0; i < s.start_s.size(); ++i) {
        t(static_cast<py::ssize_t>(i), 0) = s.start_s[i];
        t(static_cast<py::ssize_t>(i), 1) = s.end_s[i];
    }
    py::list labels;
    for (const auto& l : r.labels) labels.append(py::make_tuple(l.name, l.score));
    return py::make_tuple(
        r.model, r.dim, to_array(r.embedding.data(), 1, r.embedding.size(), false),
        to_array(s.segments.data.data(), s.segments.n_rows, s.segments.n_cols, true), times, labels,
        info_dict(r.info));
}

// Models for the module-level embed(), kept for the life of the process (loading weights costs
// far more than an embedding). Models are thread-safe for embed(). `threads` is libtorch's
// intra-op thread count, a process-wide setting: the last value asked for applies.
std::shared_ptr<const EmbeddingModel> cached_model(const std::string& name_in,
                                                   const std::string& models_dir,
                                                   int threads) {
    static std::mutex mu;
    static std::map<std::pair<std::string, std::string>, std::shared_ptr<const EmbeddingModel>>
        models;
    static int current_threads = -1;  // protected by mu
    const std::string name = name_in.empty() ? default_model() : name_in;
    const auto key = std::make_pair(name, models_dir);
    Result<std::unique_ptr<EmbeddingModel>> made = make_error(ErrorCode::kInternal, "");
    {
        py::gil_scoped_release nogil;
        std::lock_guard lock(mu);
        if (threads != current_threads) {
            set_inference_threads(threads);
            current_threads = threads;
        }
        auto it = models.find(key);
        if (it != models.end())
            return it->second;
        ModelOptions mo;
        mo.models_dir = models_dir;
        mo.threads = threads;
        made = make_model(name, mo);
        if (made) {
            std::shared_ptr<const EmbeddingModel> m(std::move(*made));
            models.emplace(key, m);
            return m;
        }
    }
    raise_error(made.error(), Stage::kModel);
}

py::tuple embed_path(const std::string& path,
                     const std::string& model,
                     const std::string& models_dir,
                     int threads,
                     std::size_t top_labels) {
    auto m = cached_model(model, models_dir, threads);
    Result<EmbedResult> r = make_error(ErrorCode::kInternal, "");
    {
        py::gil_scoped_release nogil;
        r = embed_audio_file(path, *m, top_labels);
    }
    return embed_tuple(unwrap(std::move(r), Stage::kDecode));
}

py::tuple embed_array(const py::array& samples,
                      int sample_rate_hz,
                      const std::string& model,
                      const std::string& models_dir,
                      int threads,
                      std::size_t top_labels) {
    auto m = cached_model(model, models_dir, threads);
    std::vector<float> mono = samples_from(samples);
    Result<EmbedResult> r = make_error(ErrorCode::kInternal, "");
    {
        py::gil_scoped_release nogil;
        r = embed_samples(mono, sample_rate_hz, *m, top_labels);
    }
    return embed_tuple(unwrap(std::move(r), Stage::kDecode));
}

// (samples float32 (n,), sample_rate_hz, info); sample_rate_hz 0 = the file's own rate.
py::tuple decode(const std::string& path, int sample_rate_hz) {
    Result<AudioBuffer> r = make_error(ErrorCode::kInternal, "");
    AudioInfo info;
    {
        py::gil_scoped_release nogil;
        DecodeOptions opts;
        opts.target_sample_rate_hz = sample_rate_hz;
        if (sample_rate_hz == 0) {
            auto probed = probe_audio(path);
            if (!probed)
                r = tl::unexpected(probed.error());
            else
                opts.target_sample_rate_hz = probed->sample_rate_hz;
        }
        if (opts.target_sample_rate_hz != 0)
            r = decode_audio(path, opts, &info);
    }
    auto audio = unwrap(std::move(r), Stage::kDecode);
    return py::make_tuple(to_array(audio.samples.data(), 1, audio.samples.size(), false),
                          audio.sample_rate_hz, info_dict(info));
}

py::list models(const std::string& models_dir) {
    std::vector<ModelListing> listing;
    {
        py::gil_scoped_release nogil;
        listing = list_models(models_dir);
    }
    py::list out;
    for (const auto& l : listing) {
        py::dict d;
        d["name"] = l.name;
        d["description"] = l.description;
        d["license"] = l.license;
        d["weights_found"] = l.weights_found;
        d["location"] = l.location;
        d["dim"] = l.dim;
        d["sample_rate_hz"] = l.sample_rate_hz;
        d["n_labels"] = l.n_labels;
        out.append(d);
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Library: one Engine over a catalog

// A Python exception raised inside a callback that ran during a GIL-free engine call: kept
// until the call returns, then re-raised. Touch only with the GIL held.
struct PendingPythonError {
    std::optional<py::error_already_set> error;
    bool set() const { return error.has_value(); }
};

class Library {
public:
    Library(const std::string& db, bool create, const std::string& models_dir, int threads)
        : db_(db) {
        // A catalog URI (e.g. postgresql://) is passed to the engine unchanged.
        const bool uri = db.find("://") != std::string::npos;
        std::error_code ec;
        if (!create && !uri && !fs::exists(db, ec)) {
            raise(g_exc.missing_file,
                  fmt::format("catalog '{}' does not exist (create it with `earshot index FOLDER "
                              "--db {}`)",
                              db, db));
        }
        EngineOptions eo;
        eo.db_path = db;
        eo.models_dir = models_dir;
        eo.threads = threads;
        eo.create_if_missing = create;
        Result<std::unique_ptr<Engine>> r = make_error(ErrorCode::kInternal, "");
        {
            py::gil_scoped_release nogil;
            r = Engine::open(eo);
        }
        engine_ = unwrap(std::move(r), Stage::kOpen);
    }

    const std::string& db() const { return db_; }

    const EmbeddingModel* model(const std::string& name) {
        Result<const EmbeddingModel*> r = make_error(ErrorCode::kInternal, "");
        {
            py::gil_scoped_release nogil;
            r = engine_->model(name);
        }
        return unwrap(std::move(r), Stage::kModel);
    }

    // (model, found, embedded, unchanged, [(path, reason)], audio_s, elapsed_s)
    py::tuple index(const std::vector<std::string>& paths,
                    const std::string& model_name,
                    bool force,
                    const py::object& progress) {
        for (const auto& p : paths) {
            std::error_code ec;
            if (!fs::exists(p, ec))
                raise(g_exc.missing_file, fmt::format("'{}': no such file or directory", p));
        }
        const EmbeddingModel* m = model(model_name);
        IndexOptions io;
        for (const auto& p : paths) io.paths.emplace_back(p);
        io.model = m->info().name;
        io.force = force;
        PendingPythonError pending;
        if (!progress.is_none()) {
            io.on_progress = [&](const IndexProgress& p) {
                py::gil_scoped_acquire gil;
                if (pending.set())
                    return;
                try {
                    progress(p.done, p.total);
                } catch (py::error_already_set& e) {
                    pending.error.emplace(std::move(e));
                }
            };
        }
        // Ctrl-C: Python's SIGINT handler only sets a flag; checking it here (main thread only)
        // raises KeyboardInterrupt, which stops the run after committing the finished files.
        io.should_stop = [&] {
            py::gil_scoped_acquire gil;
            if (!pending.set() && PyErr_CheckSignals() != 0)
                pending.error.emplace();
            return pending.set();
        };
        Result<IndexReport> r = make_error(ErrorCode::kInternal, "");
        {
            py::gil_scoped_release nogil;
            r = engine_->index(io);
        }
        if (pending.set()) {
            pending.error->restore();
            throw py::error_already_set();
        }
        auto report = unwrap(std::move(r), Stage::kCatalog);
        py::list failed;
        for (const auto& f : report.failures) failed.append(py::make_tuple(f.path, f.reason));
        const auto& c = report.counts;
        return py::make_tuple(m->info().name, c.total, c.added, c.unchanged, failed, c.audio_s,
                              report.elapsed_s);
    }

    static SearchRequest request(const std::string& model,
                                 const std::string& metric,
                                 std::int64_t k,
                                 std::optional<double> min_duration,
                                 std::optional<double> max_duration,
                                 const std::string& index,
                                 std::size_t ef_search,
                                 std::size_t nprobe,
                                 const std::vector<std::string>& tags,
                                 const std::string& folder,
                                 bool allow_silent) {
        SearchRequest req;
        req.filter.tags = tags;
        req.filter.folder = folder;
        req.allow_silent = allow_silent;
        req.model = model;
        req.metric = unwrap(parse_metric(metric), Stage::kCatalog);
        if (k < 1)
            raise(g_exc.invalid_argument, fmt::format("k must be at least 1, got {}", k));
        req.k = static_cast<std::size_t>(k);
        if (min_duration && max_duration && *min_duration > *max_duration)
            raise(g_exc.invalid_argument, "min_duration is above max_duration");
        req.min_duration_s = min_duration;
        req.max_duration_s = max_duration;
        req.index = index;
        req.ef_search = ef_search;
        req.nprobe = nprobe;
        return req;
    }

    // [(rank, id, path, name, duration_s, distance, score, (tag, ...), same_recording,
    //   same_recording_offset_s)] best first
    static py::list hits(const SearchResponse& resp) {
        py::list out;
        for (const auto& r : resp.results) {
            py::list tags;
            for (const auto& t : r.tags) tags.append(t.tag);
            out.append(py::make_tuple(r.rank, r.id, r.path, r.name, r.duration_s, r.distance,
                                      r.score, py::tuple(tags), r.same_recording,
                                      r.same_recording_offset_s));
        }
        return out;
    }

    py::list search_vector(const FloatArray& vector, const SearchRequest& req) {
        std::vector<float> v = query_vector(vector);
        Result<SearchResponse> r = make_error(ErrorCode::kInternal, "");
        {
            py::gil_scoped_release nogil;
            r = engine_->search_vector(v, "<vector>", req);
        }
        return hits(unwrap(std::move(r), Stage::kCatalog));
    }

    py::list search_file(const std::string& path, const SearchRequest& req) {
        model(req.model);  // weights errors first, as themselves
        Result<SearchResponse> r = make_error(ErrorCode::kInternal, "");
        {
            py::gil_scoped_release nogil;
            r = engine_->search_file(path, req);
        }
        return hits(unwrap(std::move(r), Stage::kQueryFile, path));
    }

    py::list search_id(std::int64_t id, const SearchRequest& req) {
        Result<SearchResponse> r = make_error(ErrorCode::kInternal, "");
        {
            py::gil_scoped_release nogil;
            r = engine_->search_id(id, req);
        }
        return hits(unwrap(std::move(r), Stage::kCatalog));
    }

    py::list search_samples(const py::array& samples, int sample_rate_hz, SearchRequest req) {
        const EmbeddingModel* m = model(req.model);
        req.model = m->info().name;
        std::vector<float> mono = samples_from(samples);
        Result<EmbedResult> emb = make_error(ErrorCode::kInternal, "");
        {
            py::gil_scoped_release nogil;
            emb = embed_samples(mono, sample_rate_hz, *m, 0);
        }
        auto e = unwrap(std::move(emb), Stage::kDecode);
        Result<SearchResponse> r = make_error(ErrorCode::kInternal, "");
        {
            py::gil_scoped_release nogil;
            r = engine_->search_vector(e.embedding, "<samples>", req);
        }
        return hits(unwrap(std::move(r), Stage::kCatalog));
    }

    // Benchmark helper (tools/bench_python.py): seconds for n engine->search_vector calls made
    // from C++ in a loop, to compare with n lib.search calls from Python.
    double time_search_vector(const FloatArray& vector, const SearchRequest& req, int n) {
        std::vector<float> v = query_vector(vector);
        py::gil_scoped_release nogil;
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < n; ++i) {
            auto r = engine_->search_vector(v, "<vector>", req);
            if (!r)
                return -1.0;
        }
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }

    // (ids int64 (n,), vectors float32 (n, dim))
    py::tuple vectors(const std::string& space_in) {
        const std::string space = space_in.empty() ? default_model() : space_in;
        Result<EmbeddingSet> r = make_error(ErrorCode::kInternal, "");
        {
            py::gil_scoped_release nogil;
            r = engine_->catalog().load_embeddings(space);
        }
        if (!r && r.error().code() == ErrorCode::kNotFound) {
            raise(g_exc.not_found,
                  fmt::format("the catalog '{}' has no items embedded with model or space '{}'",
                              db_, space));
        }
        auto set = unwrap(std::move(r), Stage::kCatalog);
        py::array_t<std::int64_t> ids(static_cast<py::ssize_t>(set.ids.size()));
        if (!set.ids.empty())
            std::memcpy(ids.mutable_data(), set.ids.data(), set.ids.size() * sizeof(std::int64_t));
        return py::make_tuple(ids, to_array(set.vectors.data.data(), set.vectors.n_rows,
                                            static_cast<std::size_t>(set.dim), true));
    }

    // (added, updated)
    py::tuple add_vectors(const std::string& space,
                          const std::vector<std::string>& keys,
                          const FloatArray& x,
                          const std::vector<std::string>& names,
                          const std::vector<double>& durations,
                          const std::vector<std::string>& labels) {
        if (x.ndim() != 2)
            raise(g_exc.invalid_argument,
                  fmt::format("vectors must have shape (n, dim), got {} dimensions", x.ndim()));
        const auto n = static_cast<std::size_t>(x.shape(0));
        const auto dim = static_cast<std::size_t>(x.shape(1));
        if (keys.size() != n)
            raise(g_exc.invalid_argument, fmt::format("{} keys for {} vectors", keys.size(), n));
        auto check = [&](std::size_t size, const char* what) {
            if (size != 0 && size != n)
                raise(g_exc.invalid_argument, fmt::format("{} {} for {} vectors", size, what, n));
        };
        check(names.size(), "names");
        check(durations.size(), "durations");
        check(labels.size(), "labels");
        std::vector<VectorRecord> records(n);
        for (std::size_t i = 0; i < n; ++i) {
            records[i].item.path = keys[i];
            if (!names.empty())
                records[i].item.name = names[i];
            if (!durations.empty())
                records[i].item.duration_s = durations[i];
            if (!labels.empty())
                records[i].item.labels = labels[i];
            records[i].vector.assign(x.data() + i * dim, x.data() + (i + 1) * dim);
        }
        Result<ImportReport> r = make_error(ErrorCode::kInternal, "");
        {
            py::gil_scoped_release nogil;
            r = engine_->import_vectors(space, std::move(records));
            engine_->invalidate_cache();
        }
        auto report = unwrap(std::move(r), Stage::kCatalog);
        return py::make_tuple(report.added, report.updated);
    }

    // (model, items, missing, [(metric, p_at_1, p_at_5, p_at_10, map, nn_accuracy, queries)])
    py::tuple eval(const std::string& manifest,
                   const std::string& label_column,
                   const std::string& exclude_column,
                   const std::string& model_name,
                   const std::vector<std::string>& metrics) {
        std::error_code ec;
        if (!fs::exists(manifest, ec))
            raise(g_exc.missing_file, fmt::format("'{}': no such file", manifest));
        EvalOptions eo;
        eo.manifest = manifest;
        eo.label_column = label_column;
        eo.exclude_column = exclude_column;
        eo.model = model(model_name)->info().name;
        if (!metrics.empty()) {
            eo.metrics.clear();
            for (const auto& name : metrics)
                eo.metrics.push_back(unwrap(parse_metric(name), Stage::kCatalog));
        }
        Result<EvalReport> r = make_error(ErrorCode::kInternal, "");
        {
            py::gil_scoped_release nogil;
            r = evaluate_manifest(*engine_, eo);
        }
        auto report = unwrap(std::move(r), Stage::kCatalog);
        py::list results;
        for (const auto& m : report.results) {
            results.append(py::make_tuple(std::string(metric_name(m.metric)), m.p_at_1, m.p_at_5,
                                          m.p_at_10, m.map, m.nn_accuracy, m.queries));
        }
        return py::make_tuple(report.model, report.items, report.missing, results);
    }

    static py::tuple item_tuple(const ItemRecord& it) {
        return py::make_tuple(it.id, it.path, it.name, it.duration_s, it.sample_rate_hz,
                              it.channels, it.codec, it.labels, it.title, it.artist);
    }

    py::tuple item(std::int64_t id) {
        Result<ItemRecord> r = make_error(ErrorCode::kInternal, "");
        {
            py::gil_scoped_release nogil;
            r = engine_->catalog().get_item(id);
        }
        return item_tuple(unwrap(std::move(r), Stage::kCatalog));
    }

    py::list items(const std::string& query,
                   std::int64_t offset,
                   std::int64_t limit,
                   const std::vector<std::string>& tags,
                   const std::string& folder) {
        Result<std::vector<ItemRecord>> r = make_error(ErrorCode::kInternal, "");
        {
            py::gil_scoped_release nogil;
            ItemFilter filter(query);
            filter.tags = tags;
            filter.folder = folder;
            r = engine_->catalog().list_items(offset, limit, filter);
        }
        py::list out;
        for (const auto& it : unwrap(std::move(r), Stage::kCatalog)) out.append(item_tuple(it));
        return out;
    }

    std::int64_t count(const std::string& query) {
        Result<std::int64_t> r = make_error(ErrorCode::kInternal, "");
        {
            py::gil_scoped_release nogil;
            r = engine_->catalog().count_items(query);
        }
        return unwrap(std::move(r), Stage::kCatalog);
    }

    // [(space, dim, n_items, n_segments)]
    py::list spaces() {
        Result<std::vector<SpaceInfo>> r = make_error(ErrorCode::kInternal, "");
        {
            py::gil_scoped_release nogil;
            r = engine_->catalog().spaces();
        }
        py::list out;
        for (const auto& s : unwrap(std::move(r), Stage::kCatalog))
            out.append(py::make_tuple(s.space, s.dim, s.n_items, s.n_segments));
        return out;
    }

    std::int64_t remove(const std::vector<std::string>& paths) {
        Result<std::int64_t> r = make_error(ErrorCode::kInternal, "");
        {
            py::gil_scoped_release nogil;
            r = engine_->remove_paths(paths);
        }
        return unwrap(std::move(r), Stage::kCatalog);
    }

    // (space, items, unfingerprinted, [[(id, path, name, duration_s, offset_s, similarity,
    //   method)]]) groups largest first, the reference first in each (docs/dedup.md)
    py::tuple dedup(const std::string& space, int threads) {
        Result<DedupReport> r = make_error(ErrorCode::kInternal, "");
        {
            py::gil_scoped_release nogil;
            DedupOptions options;
            options.space = space;
            options.threads = threads;
            r = find_duplicates(*engine_, options);
        }
        const DedupReport report = unwrap(std::move(r), Stage::kCatalog);
        py::list groups;
        for (const auto& g : report.groups) {
            py::list members;
            for (const auto& m : g.members)
                members.append(py::make_tuple(m.id, m.path, m.name, m.duration_s, m.offset_s,
                                              m.similarity,
                                              m.by_chromaprint ? "chromaprint" : "signature"));
            groups.append(members);
        }
        return py::make_tuple(report.space, report.items, report.unfingerprinted, groups);
    }

private:
    std::string db_;
    std::unique_ptr<Engine> engine_;
};

}  // namespace
}  // namespace earshot::python

PYBIND11_MODULE(_earshot, m) {
    using namespace earshot::python;
    using earshot::python::Library;
    m.doc() = "earshot engine bindings (use the earshot package, not this module)";

    // Library code logs; warnings go to stderr as in the CLI (no GIL needed).
    earshot::set_log_sink([](earshot::LogLevel level, std::string_view msg) {
        if (level >= earshot::LogLevel::kWarning)
            std::fprintf(stderr, "earshot: %.*s\n", static_cast<int>(msg.size()), msg.data());
    });

    g_exc.error =
        make_exception(m, "Error", "Base class of the errors earshot raises.", {PyExc_Exception});
    g_exc.invalid_argument =
        make_exception(m, "InvalidArgumentError", "A bad argument (also a ValueError).",
                       {g_exc.error, PyExc_ValueError});
    g_exc.missing_file = make_exception(
        m, "MissingFileError", "An audio file, folder, manifest or catalog does not exist.",
        {g_exc.error, PyExc_FileNotFoundError});
    g_exc.missing_weights = make_exception(
        m, "MissingWeightsError",
        "A model's weights are not in any models folder (the message lists where we looked).",
        {g_exc.error, PyExc_FileNotFoundError});
    g_exc.not_found =
        make_exception(m, "NotFoundError", "No such item id or embedding space in the catalog.",
                       {g_exc.error, PyExc_LookupError});
    g_exc.decode = make_exception(m, "DecodeError", "An audio file or array could not be decoded.",
                                  {g_exc.error});
    g_exc.corrupt_catalog = make_exception(
        m, "CorruptCatalogError",
        "The catalog is not an earshot catalog, is damaged, or is from a newer earshot.",
        {g_exc.error});
    g_exc.storage = make_exception(m, "StorageError", "Reading or writing the catalog failed.",
                                   {g_exc.error, PyExc_OSError});

    m.def("default_model", &earshot::default_model);
    m.def("audio_extensions", &earshot::audio_extensions);
    m.def("embed_path", &embed_path, py::arg("path"), py::arg("model"), py::arg("models_dir"),
          py::arg("threads"), py::arg("top_labels"));
    m.def("embed_array", &embed_array, py::arg("samples"), py::arg("sample_rate"), py::arg("model"),
          py::arg("models_dir"), py::arg("threads"), py::arg("top_labels"));
    m.def("decode", &decode, py::arg("path"), py::arg("sample_rate"));
    m.def("models", &models, py::arg("models_dir"));

    py::class_<earshot::SearchRequest>(m, "SearchRequest");
    m.def("search_request", &Library::request, py::arg("model"), py::arg("metric"), py::arg("k"),
          py::arg("min_duration"), py::arg("max_duration"), py::arg("index"), py::arg("ef_search"),
          py::arg("nprobe"), py::arg("tags"), py::arg("folder"), py::arg("allow_silent"));

    py::class_<Library, std::shared_ptr<Library>>(m, "Library")
        .def(py::init<const std::string&, bool, const std::string&, int>(), py::arg("db"),
             py::arg("create"), py::arg("models_dir"), py::arg("threads"))
        .def_property_readonly("db", &Library::db)
        .def("index", &Library::index)
        .def("search_vector", &Library::search_vector)
        .def("search_file", &Library::search_file)
        .def("search_id", &Library::search_id)
        .def("search_samples", &Library::search_samples)
        .def("vectors", &Library::vectors)
        .def("add_vectors", &Library::add_vectors)
        .def("eval", &Library::eval)
        .def("item", &Library::item)
        .def("items", &Library::items)
        .def("count", &Library::count)
        .def("spaces", &Library::spaces)
        .def("remove", &Library::remove)
        .def("dedup", &Library::dedup, py::arg("space"), py::arg("threads"))
        .def("_time_search_vector", &Library::time_search_vector);
}
