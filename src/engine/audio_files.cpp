#include "engine/audio_files.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <sys/stat.h>

#include <fmt/format.h>

#include "core/log.h"

namespace earshot {
namespace fs = std::filesystem;

const std::vector<std::string>& audio_extensions() {
    static const std::vector<std::string> kExtensions = {
        ".wav", ".wave", ".flac", ".ogg",  ".oga", ".opus", ".mp3", ".m4a", ".aac",
        ".mp4", ".aif",  ".aiff", ".aifc", ".wma", ".webm", ".mka", ".caf", ".au"};
    return kExtensions;
}

bool has_audio_extension(const fs::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const auto& exts = audio_extensions();
    return std::find(exts.begin(), exts.end(), ext) != exts.end();
}

std::string catalog_path(const fs::path& p) {
    std::error_code ec;
    auto abs = fs::absolute(p, ec);
    if (ec)
        return p.lexically_normal().string();
    return abs.lexically_normal().string();
}

std::string file_kind(mode_t mode) {
    if (S_ISFIFO(mode))
        return "a FIFO (named pipe)";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISDIR(mode))
        return "a directory";
    return "not a regular file";
}

Result<CollectedFiles> collect_audio_files(const std::vector<fs::path>& roots) {
    struct Found {
        fs::path path;
        dev_t dev;
        ino_t ino;
    };
    std::vector<Found> found;
    CollectedFiles out;
    std::set<std::pair<dev_t, ino_t>> seen_dirs;
    std::set<std::string> skipped_paths;  // a FIFO named twice is reported once
    auto skip = [&](const fs::path& p, std::string reason) {
        std::string key = catalog_path(p);
        if (skipped_paths.insert(key).second)
            out.skipped.push_back({std::move(key), std::move(reason)});
    };
    auto add = [&](const fs::path& p, const struct stat& st) {
        if (S_ISREG(st.st_mode))
            found.push_back({p, st.st_dev, st.st_ino});
        else
            skip(p, fmt::format("{}, not a regular file", file_kind(st.st_mode)));
    };
    for (const auto& root : roots) {
        struct stat st {};
        if (::stat(root.c_str(), &st) != 0) {
            const int err = errno;
            if (err == ENOENT) {
                return make_error(ErrorCode::kInvalidArgument,
                                  fmt::format("'{}': no such file or directory", root.string()));
            }
            skip(root, fmt::format("cannot stat: {}", std::strerror(err)));
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            add(root, st);
            continue;
        }
        std::vector<fs::path> stack{root};
        seen_dirs.insert({st.st_dev, st.st_ino});
        while (!stack.empty()) {
            fs::path dir = std::move(stack.back());
            stack.pop_back();
            std::error_code ec;
            std::vector<fs::path> entries;
            for (fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec),
                 end;
                 !ec && it != end; it.increment(ec)) {
                entries.push_back(it->path());
            }
            if (ec) {
                skip(dir, fmt::format("cannot list: {}", ec.message()));
                continue;
            }
            std::sort(entries.begin(), entries.end());
            // Reverse so that the stack pops sub-folders in path order (deterministic choice of
            // which name a linked folder is walked under).
            for (auto e = entries.rbegin(); e != entries.rend(); ++e) {
                struct stat est {};
                if (::stat(e->c_str(), &est) != 0) {  // e.g. a dangling symlink
                    if (has_audio_extension(*e))
                        skip(*e, fmt::format("cannot stat: {}", std::strerror(errno)));
                    continue;
                }
                if (S_ISDIR(est.st_mode)) {
                    if (seen_dirs.insert({est.st_dev, est.st_ino}).second)
                        stack.push_back(*e);
                    else
                        log_info("not walking '{}' again (a link to a folder already walked)",
                                 e->string());
                } else if (has_audio_extension(*e)) {
                    add(*e, est);
                }
            }
        }
    }
    std::sort(found.begin(), found.end(),
              [](const Found& a, const Found& b) { return a.path < b.path; });
    std::set<std::pair<dev_t, ino_t>> seen_files;
    for (auto& f : found) {
        if (seen_files.insert({f.dev, f.ino}).second)
            out.files.push_back(std::move(f.path));
    }
    return out;
}

}  // namespace earshot
