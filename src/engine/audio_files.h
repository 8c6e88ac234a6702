// Finding audio files on disk: the one folder walk behind `index`, `bench ingest` and
// `train autoencoder` (folders recursively, links followed once, FIFOs and devices never opened),
// the audio-extension test and the catalog's path key. Thread-safe (no shared state).
#pragma once

#include <filesystem>
#include <string>
#include <sys/types.h>
#include <vector>

#include "core/status.h"
#include "engine/engine.h"

namespace earshot {

// Whether the file name ends in one of audio_extensions() (case-insensitive).
bool has_audio_extension(const std::filesystem::path& p);

// Absolute, normalised path used as the catalog key (symlinks are kept as given so that a
// library's own layout is what users see).
std::string catalog_path(const std::filesystem::path& p);

// What a stat mode is, for messages about files that are not regular ("a FIFO (named pipe)").
std::string file_kind(mode_t mode);

struct CollectedFiles {
    std::vector<std::filesystem::path> files;  // sorted by path, one per (device, inode)
    std::vector<IndexFailure> skipped;         // non-regular or unreadable entries, with the reason
};

// Regular files named in `roots` (any extension) and regular files with an audio extension
// below the named folders. Directory symlinks are followed, but each directory (device + inode)
// is walked once, so a link to "." or to an ancestor cannot loop. A file reachable under several
// names (symlinks, hard links) is listed once, under the first name in path order. FIFOs,
// sockets and devices are never opened (opening a FIFO blocks): they are reported in `skipped`.
// kInvalidArgument if a named path does not exist.
Result<CollectedFiles> collect_audio_files(const std::vector<std::filesystem::path>& roots);

}  // namespace earshot
