// The one CSV reader (RFC 4180): fields separated by ',' (or CsvOptions::separator), a field may
// be in double quotes and then hold separators, line breaks and quotes written twice (""); rows
// end with LF, CRLF or a lone CR. A UTF-8 byte-order mark at the start is skipped, and so are
// blank lines (only spaces/tabs). A '"' inside an unquoted field is kept as it is (12" vinyl);
// text after a closing quote other than a separator or line break is an error.
// Used for import files, evaluation/training manifests, pairs and listening logs, label files.
#pragma once

#include <cstddef>
#include <filesystem>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace earshot {

struct CsvOptions {
    char separator = ',';
    bool comments = false;  // skip lines whose first non-blank character is '#'
};

struct CsvRow {
    std::size_t line = 0;  // 1-based line the row starts on
    std::vector<std::string> fields;
};

// Reads rows one at a time from a stream (large import files are not held in memory).
class CsvReader {
public:
    // source names the input in errors ("<source> line N: ..."). The stream outlives the reader.
    CsvReader(std::istream& in, std::string source, CsvOptions options = {});

    // The next row into `row`: true, or false at the end of the input. kCorruption naming the
    // source and line for an unterminated quoted field or text after a closing quote.
    Result<bool> next(CsvRow& row);

private:
    std::streambuf* in_;
    std::string source_;
    CsvOptions options_;
    std::size_t line_ = 1;
    bool at_start_ = true;  // before the first character (a byte-order mark may follow)
    bool at_end_ = false;
};

// All rows of CSV text (as CsvReader).
Result<std::vector<CsvRow>> parse_csv(std::string_view text,
                                      const std::string& source,
                                      CsvOptions options = {});

// A CSV with a header row. Every row has as many fields as the header (a ragged row is
// kCorruption naming the source and its line); the header is empty when the text has no rows.
struct CsvTable {
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
    std::vector<std::size_t> lines;             // the line each row starts on
    int column(const std::string& name) const;  // -1 if absent
};
Result<CsvTable> parse_csv_table(std::string_view text,
                                 const std::string& source,
                                 CsvOptions options = {});
// Reads a CSV file with a header row: kNotFound / kIoError (reading), kCorruption (as
// parse_csv_table), kInvalidArgument for a file with no rows.
Result<CsvTable> read_csv(const std::filesystem::path& path, CsvOptions options = {});

}  // namespace earshot
