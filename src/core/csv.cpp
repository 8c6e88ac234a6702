#include "core/csv.h"

#include <sstream>
#include <utility>

#include <fmt/format.h>

#include "core/file_util.h"

namespace earshot {

CsvReader::CsvReader(std::istream& in, std::string source, CsvOptions options)
    : in_(in.rdbuf()), source_(std::move(source)), options_(options) {}

Result<bool> CsvReader::next(CsvRow& row) {
    using Traits = std::char_traits<char>;
    const auto eof = Traits::eof();
    if (at_start_) {
        at_start_ = false;
        // A UTF-8 byte-order mark: EF BB BF.
        if (in_->sgetc() == 0xEF) {
            std::string bom;
            for (int i = 0; i < 3 && in_->sgetc() != eof; ++i)
                bom += Traits::to_char_type(in_->sbumpc());
            if (bom != "\xEF\xBB\xBF") {
                for (auto it = bom.rbegin(); it != bom.rend(); ++it) in_->sputbackc(*it);
            }
        }
    }
    enum class State { kStart, kUnquoted, kQuoted, kAfterQuote };
    for (;;) {
        if (at_end_)
            return false;
        row.line = line_;
        row.fields.clear();
        std::string field;
        State state = State::kStart;
        bool content = false;  // the row has more than spaces/tabs
        bool comment = false;
        for (;;) {
            const auto c = in_->sbumpc();
            if (c == eof) {
                at_end_ = true;
                if (state == State::kQuoted) {
                    return make_error(
                        ErrorCode::kCorruption,
                        fmt::format("{} line {}: unterminated quoted field", source_, row.line));
                }
                break;
            }
            char ch = Traits::to_char_type(c);
            if (state == State::kQuoted) {
                if (ch == '"') {
                    if (in_->sgetc() == '"') {
                        in_->sbumpc();
                        field += '"';
                    } else {
                        state = State::kAfterQuote;
                    }
                } else {
                    if (ch == '\n' || (ch == '\r' && in_->sgetc() != '\n'))
                        ++line_;
                    field += ch;
                }
                continue;
            }
            if (ch == '\r') {
                if (in_->sgetc() == '\n')
                    in_->sbumpc();
                ch = '\n';
            }
            if (ch == '\n') {
                ++line_;
                break;
            }
            if (comment)
                continue;
            if (ch == options_.separator) {
                row.fields.push_back(std::move(field));
                field.clear();
                state = State::kStart;
                content = true;
                continue;
            }
            if (state == State::kAfterQuote) {
                return make_error(
                    ErrorCode::kCorruption,
                    fmt::format("{} line {}: text after a closing quote", source_, line_));
            }
            if (ch == '"' && state == State::kStart &&
                field.find_first_not_of(" \t") == std::string::npos) {
                field.clear();  // spaces before an opening quote are not part of the field
                state = State::kQuoted;
                content = true;
                continue;
            }
            if (ch == '#' && options_.comments && !content && row.fields.empty()) {
                comment = true;
                continue;
            }
            if (ch != ' ' && ch != '\t')
                content = true;
            field += ch;
            if (state == State::kStart)
                state = State::kUnquoted;
        }
        if (comment || !content)
            continue;  // a blank or comment line
        row.fields.push_back(std::move(field));
        return true;
    }
}

Result<std::vector<CsvRow>> parse_csv(std::string_view text,
                                      const std::string& source,
                                      CsvOptions options) {
    std::istringstream in{std::string(text)};
    CsvReader reader(in, source, options);
    std::vector<CsvRow> rows;
    CsvRow row;
    for (;;) {
        EARSHOT_ASSIGN_OR_RETURN(bool more, reader.next(row));
        if (!more)
            return rows;
        rows.push_back(std::move(row));
    }
}

int CsvTable::column(const std::string& name) const {
    for (std::size_t i = 0; i < header.size(); ++i) {
        if (header[i] == name)
            return static_cast<int>(i);
    }
    return -1;
}

Result<CsvTable> parse_csv_table(std::string_view text,
                                 const std::string& source,
                                 CsvOptions options) {
    EARSHOT_ASSIGN_OR_RETURN(auto rows, parse_csv(text, source, options));
    CsvTable t;
    if (rows.empty())
        return t;
    t.header = std::move(rows.front().fields);
    t.rows.reserve(rows.size() - 1);
    t.lines.reserve(rows.size() - 1);
    for (std::size_t r = 1; r < rows.size(); ++r) {
        if (rows[r].fields.size() != t.header.size()) {
            return make_error(ErrorCode::kCorruption,
                              fmt::format("{} line {}: {} field(s), the header has {}", source,
                                          rows[r].line, rows[r].fields.size(), t.header.size()));
        }
        t.rows.push_back(std::move(rows[r].fields));
        t.lines.push_back(rows[r].line);
    }
    return t;
}

Result<CsvTable> read_csv(const std::filesystem::path& path, CsvOptions options) {
    EARSHOT_ASSIGN_OR_RETURN(auto text, read_file_text(path));
    EARSHOT_ASSIGN_OR_RETURN(auto t, parse_csv_table(text, path.string(), options));
    if (t.header.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("'{}': empty CSV", path.string()));
    }
    return t;
}

}  // namespace earshot
