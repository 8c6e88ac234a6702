// An input stream over bytes already in memory, not copied (they must outlive the stream), with
// seeking and tellg. The from-memory form of the readers that take a std::istream: the importers'
// CSV / JSONL / npy parsers (engine/import_formats.h, core/npy.h) and index files
// (index/index_file.h); their file versions open an std::ifstream and run the same code.
#pragma once

#include <cstddef>
#include <istream>
#include <streambuf>
#include <string_view>

namespace earshot {

namespace detail {

class MemoryStreambuf : public std::streambuf {
public:
    MemoryStreambuf(const char* data, std::size_t size) {
        char* p = const_cast<char*>(data);  // get area only: never written through
        setg(p, p, p + size);
    }

protected:
    pos_type seekoff(off_type off,
                     std::ios_base::seekdir dir,
                     std::ios_base::openmode which) override {
        if (!(which & std::ios_base::in))
            return pos_type(off_type(-1));
        const off_type base = dir == std::ios_base::beg   ? 0
                              : dir == std::ios_base::cur ? gptr() - eback()
                                                          : egptr() - eback();
        const off_type to = base + off;
        if (to < 0 || to > egptr() - eback())
            return pos_type(off_type(-1));
        setg(eback(), eback() + to, egptr());
        return pos_type(to);
    }
    pos_type seekpos(pos_type pos, std::ios_base::openmode which) override {
        return seekoff(off_type(pos), std::ios_base::beg, which);
    }
};

}  // namespace detail

class MemoryIstream : private detail::MemoryStreambuf, public std::istream {
public:
    MemoryIstream(const void* data, std::size_t size)
        : detail::MemoryStreambuf(static_cast<const char*>(data), size),
          std::istream(static_cast<detail::MemoryStreambuf*>(this)) {}
    explicit MemoryIstream(std::string_view bytes) : MemoryIstream(bytes.data(), bytes.size()) {}
};

}  // namespace earshot
