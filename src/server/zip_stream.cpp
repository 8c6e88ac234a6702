// GET /api/zip?ids=1,2,3: the items' audio files as one ZIP archive, streamed as it is written
// (chunked; nothing is buffered beyond 64 KiB). Entries are stored, not deflated (audio formats
// are compressed already), with a data descriptor after each file carrying its CRC-32, and the
// central directory at the end. No ZIP64: at most 1000 files and 4 GiB in all (400 beyond).
// Only files the catalog records are served, checked as for /audio (absolute path, regular
// file, the indexed size); all are opened before the first byte is sent, so a missing or changed
// file is an error answer rather than a truncated archive.
#include <array>
#include <cstdint>
#include <ctime>
#include <fcntl.h>
#include <memory>
#include <set>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>
#include <httplib.h>

#include "server/detail/routes.h"
#include "server/json_codec.h"

namespace earshot::server {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxZipItems = 1000;
constexpr std::uint64_t kMaxZipBytes = 0xFFFFFFFFull;  // without ZIP64

const std::array<std::uint32_t, 256>& crc_table() {
    static const std::array<std::uint32_t, 256> table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    return table;
}

std::uint32_t crc32_update(std::uint32_t crc, const char* data, std::size_t n) {
    const auto& t = crc_table();
    crc = ~crc;
    for (std::size_t i = 0; i < n; ++i)
        crc = t[(crc ^ static_cast<unsigned char>(data[i])) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

void put16(std::string& out, std::uint32_t v) {
    out += static_cast<char>(v & 0xFF);
    out += static_cast<char>((v >> 8) & 0xFF);
}
void put32(std::string& out, std::uint32_t v) {
    put16(out, v & 0xFFFF);
    put16(out, v >> 16);
}

struct ZipEntry {
    std::string name;  // unique within the archive
    int fd = -1;
    std::uint32_t size = 0;
    std::uint16_t dos_time = 0;
    std::uint16_t dos_date = 0;
    std::uint32_t crc = 0;
    std::uint32_t offset = 0;  // of the local header
};

struct ZipFiles {
    std::vector<ZipEntry> entries;
    ~ZipFiles() {
        for (auto& e : entries)
            if (e.fd >= 0)
                ::close(e.fd);
    }
};

void dos_time_of(std::time_t t, ZipEntry& e) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    if (tm.tm_year < 80) {  // before 1980: the format's earliest date
        e.dos_date = (1 << 5) | 1;
        e.dos_time = 0;
        return;
    }
    e.dos_time =
        static_cast<std::uint16_t>((tm.tm_hour << 11) | (tm.tm_min << 5) | (tm.tm_sec / 2));
    e.dos_date =
        static_cast<std::uint16_t>(((tm.tm_year - 80) << 9) | ((tm.tm_mon + 1) << 5) | tm.tm_mday);
}

// "a.wav", "a.wav" -> "a.wav", "a (2).wav"
std::string unique_name(const std::string& name, std::set<std::string>& used) {
    std::string base = name.empty() ? "audio" : name;
    for (auto& c : base)
        if (c == '/' || c == '\\')
            c = '_';
    if (used.insert(base).second)
        return base;
    auto dot = base.rfind('.');
    std::string stem = dot == std::string::npos || dot == 0 ? base : base.substr(0, dot);
    std::string ext = dot == std::string::npos || dot == 0 ? "" : base.substr(dot);
    for (int i = 2;; ++i) {
        std::string candidate = fmt::format("{} ({}){}", stem, i, ext);
        if (used.insert(candidate).second)
            return candidate;
    }
}

std::string local_header(const ZipEntry& e) {
    std::string h;
    put32(h, 0x04034b50);
    put16(h, 20);                    // version needed: 2.0
    put16(h, (1 << 3) | (1 << 11));  // data descriptor follows; UTF-8 name
    put16(h, 0);                     // stored
    put16(h, e.dos_time);
    put16(h, e.dos_date);
    put32(h, 0);  // CRC, sizes: in the data descriptor
    put32(h, 0);
    put32(h, 0);
    put16(h, static_cast<std::uint32_t>(e.name.size()));
    put16(h, 0);
    h += e.name;
    return h;
}

std::string data_descriptor(const ZipEntry& e) {
    std::string d;
    put32(d, 0x08074b50);
    put32(d, e.crc);
    put32(d, e.size);
    put32(d, e.size);
    return d;
}

std::string central_directory(const std::vector<ZipEntry>& entries, std::uint32_t start) {
    std::string cd;
    for (const auto& e : entries) {
        put32(cd, 0x02014b50);
        put16(cd, (3 << 8) | 20);  // made by: Unix, 2.0
        put16(cd, 20);
        put16(cd, (1 << 3) | (1 << 11));
        put16(cd, 0);
        put16(cd, e.dos_time);
        put16(cd, e.dos_date);
        put32(cd, e.crc);
        put32(cd, e.size);
        put32(cd, e.size);
        put16(cd, static_cast<std::uint32_t>(e.name.size()));
        put16(cd, 0);               // extra
        put16(cd, 0);               // comment
        put16(cd, 0);               // disk
        put16(cd, 0);               // internal attributes
        put32(cd, 0100644u << 16);  // external: a regular file, rw-r--r--
        put32(cd, e.offset);
        cd += e.name;
    }
    std::string end;
    put32(end, 0x06054b50);
    put16(end, 0);
    put16(end, 0);
    put16(end, static_cast<std::uint32_t>(entries.size()));
    put16(end, static_cast<std::uint32_t>(entries.size()));
    put32(end, static_cast<std::uint32_t>(cd.size()));
    put32(end, start);
    put16(end, 0);
    return cd + end;
}

void handle_zip(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
    if (!req.has_param("ids") || req.get_param_value("ids").empty()) {
        return send_error(
            res, Error(ErrorCode::kInvalidArgument, "give the items as ids=1,2,3 (at most 1000)"));
    }
    auto ids = parse_item_id_list(req.get_param_value("ids"), kMaxZipItems);
    if (!ids)
        return send_error(res, ids.error());
    auto files = std::make_shared<ZipFiles>();
    std::set<std::string> used;
    std::uint64_t total = 22;  // the end record
    for (auto id : *ids) {
        auto item = ctx.engine.catalog().get_item(id);
        if (!item)
            return send_error(res, item.error());
        const fs::path path = item_file_path(ctx.options, item->path);
        ZipEntry e;
        if (!path.empty())
            e.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (e.fd < 0) {
            return send_error(res, Error(ErrorCode::kNotFound,
                                         fmt::format("the audio file of item {} ('{}') is not on "
                                                     "this machine; re-run earshot index",
                                                     id, item->name)));
        }
        struct stat st {};
        files->entries.push_back(e);  // closed by ZipFiles from now on
        if (::fstat(e.fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != item->size_bytes) {
            return send_json(
                res,
                error_json("Conflict", fmt::format("the file of item {} ('{}') changed since it "
                                                   "was indexed; re-run earshot index",
                                                   id, item->name)),
                409);
        }
        auto& added = files->entries.back();
        added.name = unique_name(item->name, used);
        added.size = static_cast<std::uint32_t>(
            std::min<std::uint64_t>(static_cast<std::uint64_t>(st.st_size), kMaxZipBytes));
        dos_time_of(st.st_mtim.tv_sec, added);
        total += 30 + 16 + 46 + 2 * added.name.size() + static_cast<std::uint64_t>(st.st_size);
        if (total > kMaxZipBytes) {
            return send_error(res, Error(ErrorCode::kInvalidArgument,
                                         "the selection is over 4 GiB; download it in parts"));
        }
    }
    res.set_header(
        "Content-Disposition",
        fmt::format("attachment; filename=\"earshot-{}-sounds.zip\"", files->entries.size()));
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Cache-Control", "no-store");
    res.set_chunked_content_provider(
        "application/zip", [files](std::size_t, httplib::DataSink& sink) {
            std::uint32_t offset = 0;
            auto write = [&](const std::string& bytes) {
                offset += static_cast<std::uint32_t>(bytes.size());
                return sink.write(bytes.data(), bytes.size());
            };
            std::vector<char> buf(64 * 1024);
            for (auto& e : files->entries) {
                e.offset = offset;
                if (!write(local_header(e)))
                    return false;
                std::uint32_t done = 0;
                e.crc = 0;
                while (done < e.size) {
                    std::size_t want = std::min<std::size_t>(buf.size(), e.size - done);
                    auto got = ::pread(e.fd, buf.data(), want, static_cast<off_t>(done));
                    if (got <= 0)
                        return false;  // the file shrank under us: abort (the client sees it)
                    e.crc = crc32_update(e.crc, buf.data(), static_cast<std::size_t>(got));
                    if (!sink.write(buf.data(), static_cast<std::size_t>(got)))
                        return false;
                    done += static_cast<std::uint32_t>(got);
                    offset += static_cast<std::uint32_t>(got);
                }
                if (!write(data_descriptor(e)))
                    return false;
            }
            if (!write(central_directory(files->entries, offset)))
                return false;
            sink.done();
            return true;
        });
}

}  // namespace

void register_zip_routes(httplib::Server& server, ServerContext& ctx) {
    server.Get("/api/zip", [&ctx](const httplib::Request& req, httplib::Response& res) {
        handle_zip(ctx, req, res);
    });
}

}  // namespace earshot::server
