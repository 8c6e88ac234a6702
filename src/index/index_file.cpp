#include "index/index_file.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>

#include "core/file_util.h"

namespace earshot {
namespace fs = std::filesystem;

static_assert(std::endian::native == std::endian::little, "index files are little-endian");

namespace detail {
namespace {
constexpr std::size_t kBlockBytes = std::size_t{1} << 20;
}  // namespace

IndexWriter::IndexWriter(std::ostream& out) : out_(out) {
    block_.reserve(kBlockBytes);
}

void IndexWriter::bytes(const void* data, std::size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
        const std::size_t take = std::min(n, kBlockBytes - block_.size());
        block_.insert(block_.end(), p, p + take);
        p += take;
        n -= take;
        written_ += take;
        if (block_.size() == kBlockBytes)
            flush_block();
    }
}

void IndexWriter::flush_block() {
    if (block_.empty())
        return;
    hash_ = hash_bytes(block_.data(), block_.size(), hash_);
    out_.write(block_.data(), static_cast<std::streamsize>(block_.size()));
    block_.clear();
}

std::uint64_t IndexWriter::finish() {
    flush_block();
    return hash_;
}

bool IndexWriter::ok() const {
    return static_cast<bool>(out_);
}

IndexReader::IndexReader(std::istream& in, std::uint64_t size) : in_(in), size_(size) {}

Status IndexReader::fill() {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(kBlockBytes, size_ - loaded_));
    block_.resize(n);
    pos_ = 0;
    if (n == 0)
        return make_error(ErrorCode::kCorruption, "index payload is shorter than its fields");
    in_.read(block_.data(), static_cast<std::streamsize>(n));
    if (static_cast<std::size_t>(in_.gcount()) != n)
        return make_error(ErrorCode::kCorruption, "index file is truncated");
    loaded_ += n;
    hash_ = hash_bytes(block_.data(), n, hash_);
    return ok_status();
}

Status IndexReader::bytes(void* data, std::size_t n) {
    if (n > remaining())
        return make_error(ErrorCode::kCorruption, "index payload is shorter than its fields");
    char* p = static_cast<char*>(data);
    while (n > 0) {
        if (pos_ == block_.size())
            EARSHOT_RETURN_IF_ERROR(fill());
        const std::size_t take = std::min(n, block_.size() - pos_);
        std::memcpy(p, block_.data() + pos_, take);
        pos_ += take;
        p += take;
        n -= take;
        consumed_ += take;
    }
    return ok_status();
}

Status IndexReader::finish(std::uint64_t expected_checksum) {
    if (consumed_ != size_)
        return make_error(ErrorCode::kCorruption, "index payload has trailing bytes");
    if (hash_ != expected_checksum)
        return make_error(ErrorCode::kCorruption, "index payload checksum mismatch");
    return ok_status();
}

}  // namespace detail

namespace {

constexpr std::uint32_t kMaxStringBytes = 4096;
constexpr int kMaxDim = 1 << 16;

void put_string(std::ostream& out, const std::string& s) {
    const auto n = static_cast<std::uint32_t>(s.size());
    out.write(reinterpret_cast<const char*>(&n), sizeof n);
    out.write(s.data(), static_cast<std::streamsize>(s.size()));
}

template <typename T>
void put_pod(std::ostream& out, const T& v) {
    out.write(reinterpret_cast<const char*>(&v), sizeof v);
}

Error corrupt(const std::string& source, const std::string& what) {
    return Error(ErrorCode::kCorruption, "index file '" + source + "': " + what);
}

template <typename T>
Status get_pod(std::istream& in, T& v, const std::string& source) {
    in.read(reinterpret_cast<char*>(&v), sizeof v);
    if (static_cast<std::size_t>(in.gcount()) != sizeof v)
        return tl::unexpected(corrupt(source, "truncated header"));
    return ok_status();
}

Result<std::string> get_string(std::istream& in, const std::string& source) {
    std::uint32_t n = 0;
    EARSHOT_RETURN_IF_ERROR(get_pod(in, n, source));
    if (n > kMaxStringBytes)
        return tl::unexpected(corrupt(source, "impossible string length in header"));
    std::string s(n, '\0');
    in.read(s.data(), n);
    if (static_cast<std::uint32_t>(in.gcount()) != n)
        return tl::unexpected(corrupt(source, "truncated header"));
    return s;
}

struct OpenedFile {
    IndexFileHeader header;
    std::uint64_t payload_bytes = 0;
};

// Reads and checks the header of the file_size bytes from `in`'s position; leaves `in` at the
// payload.
Result<OpenedFile> read_header(std::istream& in,
                               const std::string& source,
                               std::uint64_t file_size) {
    const auto start = in.tellg();
    char magic[4] = {};
    in.read(magic, 4);
    if (in.gcount() != 4 || std::memcmp(magic, kIndexFileMagic, 4) != 0)
        return tl::unexpected(corrupt(source, "not an earshot index file (bad magic)"));
    std::uint32_t version = 0;
    EARSHOT_RETURN_IF_ERROR(get_pod(in, version, source));
    if (version == 0)
        return tl::unexpected(corrupt(source, "bad version 0"));
    if (version > kIndexFileVersion) {
        return make_error(ErrorCode::kNotSupported, "index file '" + source + "' has version " +
                                                        std::to_string(version) +
                                                        ", newer than this build supports");
    }
    OpenedFile f;
    IndexFileHeader& h = f.header;
    EARSHOT_ASSIGN_OR_RETURN(h.spec, get_string(in, source));
    EARSHOT_ASSIGN_OR_RETURN(h.space, get_string(in, source));
    std::uint32_t dim = 0;
    std::uint32_t metric = 0;
    EARSHOT_RETURN_IF_ERROR(get_pod(in, dim, source));
    EARSHOT_RETURN_IF_ERROR(get_pod(in, metric, source));
    EARSHOT_RETURN_IF_ERROR(get_pod(in, h.count, source));
    EARSHOT_RETURN_IF_ERROR(get_pod(in, h.catalog_generation, source));
    EARSHOT_RETURN_IF_ERROR(get_pod(in, h.catalog_max_id, source));
    EARSHOT_RETURN_IF_ERROR(get_pod(in, f.payload_bytes, source));
    if (dim == 0 || dim > static_cast<std::uint32_t>(kMaxDim))
        return tl::unexpected(corrupt(source, "impossible dim " + std::to_string(dim)));
    if (metric > static_cast<std::uint32_t>(Metric::kCorrelation))
        return tl::unexpected(corrupt(source, "unknown metric code " + std::to_string(metric)));
    h.dim = static_cast<int>(dim);
    h.metric = static_cast<Metric>(metric);
    const auto pos = in.tellg();
    if (pos < 0 || start < 0)
        return tl::unexpected(corrupt(source, "truncated header"));
    const auto header_bytes = static_cast<std::uint64_t>(pos - start);
    if (header_bytes + sizeof(std::uint64_t) > file_size ||
        f.payload_bytes != file_size - header_bytes - sizeof(std::uint64_t)) {
        return tl::unexpected(corrupt(
            source, "size does not match the header (truncated or trailing bytes): payload " +
                        std::to_string(f.payload_bytes) + " bytes, file " +
                        std::to_string(file_size) + " bytes"));
    }
    return f;
}

Result<std::uint64_t> file_size_of(const fs::path& path) {
    std::error_code ec;
    if (!fs::exists(path, ec))
        return make_error(ErrorCode::kNotFound, "index file '" + path.string() + "' not found");
    const auto size = fs::file_size(path, ec);
    if (ec) {
        return make_error(ErrorCode::kIoError,
                          "index file '" + path.string() + "': " + ec.message());
    }
    return static_cast<std::uint64_t>(size);
}

}  // namespace

Status save_index_file(const fs::path& path, const VectorIndex& index, IndexFileHeader header) {
    header.spec = index.spec().text;
    header.dim = index.dim();
    header.metric = index.metric();
    header.count = index.size();
    std::error_code ec;
    if (path.has_parent_path())
        fs::create_directories(path.parent_path(), ec);
    const fs::path tmp = fs::path(path.string() + ".tmp");
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) {
            return make_error(ErrorCode::kIoError,
                              "cannot write index file '" + tmp.string() + "'");
        }
        out.write(kIndexFileMagic, 4);
        put_pod(out, kIndexFileVersion);
        put_string(out, header.spec);
        put_string(out, header.space);
        put_pod(out, static_cast<std::uint32_t>(header.dim));
        put_pod(out, static_cast<std::uint32_t>(header.metric));
        put_pod(out, header.count);
        put_pod(out, header.catalog_generation);
        put_pod(out, header.catalog_max_id);
        const auto size_pos = out.tellp();
        put_pod(out, std::uint64_t{0});  // payload size, patched below
        detail::IndexWriter w(out);
        auto st = index.save_payload(w);
        if (!st) {
            out.close();
            fs::remove(tmp, ec);
            return st;
        }
        const std::uint64_t checksum = w.finish();
        put_pod(out, checksum);
        const std::uint64_t payload = w.written();
        out.seekp(size_pos);
        put_pod(out, payload);
        out.flush();
        if (!out) {
            out.close();
            fs::remove(tmp, ec);
            return make_error(ErrorCode::kIoError,
                              "writing index file '" + tmp.string() + "' failed (disk full?)");
        }
    }
    fs::rename(tmp, path, ec);
    if (ec) {
        fs::remove(tmp, ec);
        return make_error(ErrorCode::kIoError,
                          "cannot rename index file to '" + path.string() + "': " + ec.message());
    }
    return ok_status();
}

Result<IndexFileHeader> read_index_header(const fs::path& path) {
    EARSHOT_ASSIGN_OR_RETURN(auto size, file_size_of(path));
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return make_error(ErrorCode::kIoError, "cannot open index file '" + path.string() + "'");
    EARSHOT_ASSIGN_OR_RETURN(auto f, read_header(in, path.string(), size));
    return f.header;
}

Result<LoadedIndex> load_index_file(const fs::path& path) {
    EARSHOT_ASSIGN_OR_RETURN(auto size, file_size_of(path));
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return make_error(ErrorCode::kIoError, "cannot open index file '" + path.string() + "'");
    return load_index(in, size, path.string());
}

Result<LoadedIndex> load_index(std::istream& in, std::uint64_t size, const std::string& source) {
    EARSHOT_ASSIGN_OR_RETURN(auto f, read_header(in, source, size));
    auto spec = parse_index_spec(f.header.spec);
    if (!spec)
        return tl::unexpected(corrupt(source, "bad spec in header: " + spec.error().message()));
    const IndexKind* kind = find_index_kind(spec->kind);
    if (kind == nullptr)
        return tl::unexpected(corrupt(source, "unknown index kind '" + spec->kind + "'"));
    detail::IndexReader reader(in, f.payload_bytes);
    auto index = kind->load(*spec, f.header.dim, f.header.metric, reader);
    if (!index) {
        const auto& e = index.error();
        if (e.code() == ErrorCode::kCorruption)
            return tl::unexpected(corrupt(source, e.message()));
        return tl::unexpected(e.with_context("index file '" + source + "'"));
    }
    std::uint64_t checksum = 0;
    in.read(reinterpret_cast<char*>(&checksum), sizeof checksum);
    if (static_cast<std::size_t>(in.gcount()) != sizeof checksum)
        return tl::unexpected(corrupt(source, "truncated checksum"));
    auto done = reader.finish(checksum);
    if (!done)
        return tl::unexpected(corrupt(source, done.error().message()));
    if ((*index)->size() != f.header.count) {
        return tl::unexpected(corrupt(source, "header says " + std::to_string(f.header.count) +
                                                  " items, payload has " +
                                                  std::to_string((*index)->size())));
    }
    return LoadedIndex{f.header, std::move(*index)};
}

}  // namespace earshot
