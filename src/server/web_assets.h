// The web page (web/ in the source tree), compiled into the binary by cmake/embed_file.cmake, and
// the lookup the server uses to serve it. With --web-dir the same names are read from disk
// instead (for development), never anything outside that folder. Immutable; thread-safe.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace earshot::web {

struct EmbeddedFile {
    const char* name;  // relative to web/, e.g. "index.html", "app.js"
    const unsigned char* data;
    std::size_t size;
};

// Defined in the generated web_assets_data.cpp.
extern const EmbeddedFile kEmbeddedFiles[];
extern const std::size_t kEmbeddedFileCount;

struct Asset {
    std::string body;
    std::string content_type;
};

// The asset for a request path ("/" means "/index.html"). With web_dir non-empty, the file is read
// from web_dir, and only if the name is a plain relative path (letters, digits, '.', '_', '-',
// '/' between names; no '..', no hidden files) that resolves inside web_dir. nullopt otherwise.
std::optional<Asset> find_asset(std::string_view request_path,
                                const std::filesystem::path& web_dir);

// Content type for a file name by extension (text types carry charset=utf-8).
std::string content_type_for(std::string_view name);

// A weak entity tag for a body (W/"<16 hex digits>", FNV-1a 64 of the bytes): weak because the
// same tag names the gzip and the plain encoding.
std::string etag_for(std::string_view body);

// Whether an If-None-Match header value ("*", or a list of tags) matches `etag` by the weak
// comparison of RFC 9110 (W/ prefixes ignored).
bool etag_matches(std::string_view if_none_match, std::string_view etag);

// The element in index.html where the server writes the page's boot data.
inline constexpr std::string_view kBootElement =
    R"(<script id="earshot-boot" type="application/json"></script>)";

// `html` with `boot_json` written into its kBootElement (every '<' escaped as \u003c, so the
// JSON cannot end the script element). `html` unchanged if it has no such element.
std::string with_boot_json(std::string_view html, std::string_view boot_json);

}  // namespace earshot::web
