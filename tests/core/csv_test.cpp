// The CSV reader (core/csv.h): RFC 4180 quoting, line endings, BOM, blank and comment lines,
// ragged rows and broken quotes reported with the source and line.
#include "core/csv.h"

#include <sstream>

#include <gtest/gtest.h>

namespace earshot {
namespace {

using Fields = std::vector<std::string>;

std::vector<Fields> fields_of(std::string_view text, CsvOptions options = {}) {
    auto rows = parse_csv(text, "t.csv", options);
    EXPECT_TRUE(rows) << rows.error().to_string();
    std::vector<Fields> out;
    if (rows) {
        for (auto& r : *rows) out.push_back(r.fields);
    }
    return out;
}

TEST(CsvTest, PlainAndQuotedFields) {
    EXPECT_EQ(fields_of("a,b,c\n1,,3\n"), (std::vector<Fields>{{"a", "b", "c"}, {"1", "", "3"}}));
    EXPECT_EQ(fields_of("\"x, y\",\"say \"\"hi\"\"\",\"\"\n"),
              (std::vector<Fields>{{"x, y", "say \"hi\"", ""}}));
    // No newline at the end; a trailing separator gives an empty last field.
    EXPECT_EQ(fields_of("a,"), (std::vector<Fields>{{"a", ""}}));
    // A quote inside an unquoted field is kept.
    EXPECT_EQ(fields_of("12\" vinyl,b\n"), (std::vector<Fields>{{"12\" vinyl", "b"}}));
}

TEST(CsvTest, LineEndingsBlankLinesAndEmbeddedNewlines) {
    EXPECT_EQ(fields_of("a,b\r\n1,2\r\n\r\n  \n3,4\r5,6"),
              (std::vector<Fields>{{"a", "b"}, {"1", "2"}, {"3", "4"}, {"5", "6"}}));
    auto rows = parse_csv("id,text\n1,\"two\nlines\"\n2,\"crlf\r\ninside\"\n3,x\n", "t.csv");
    ASSERT_TRUE(rows) << rows.error().to_string();
    ASSERT_EQ(rows->size(), 4u);
    EXPECT_EQ((*rows)[1].fields[1], "two\nlines");
    EXPECT_EQ((*rows)[2].fields[1], "crlf\r\ninside");
    // Each row knows the line it starts on.
    EXPECT_EQ((*rows)[1].line, 2u);
    EXPECT_EQ((*rows)[2].line, 4u);
    EXPECT_EQ((*rows)[3].line, 6u);
}

TEST(CsvTest, ByteOrderMarkIsSkipped) {
    auto t = parse_csv_table("\xEF\xBB\xBFindex,name\n0,Speech\n", "labels.csv");
    ASSERT_TRUE(t) << t.error().to_string();
    EXPECT_EQ(t->column("index"), 0);
    EXPECT_EQ(t->rows, (std::vector<Fields>{{"0", "Speech"}}));
    // Bytes that only start like a BOM are data.
    EXPECT_EQ(fields_of("\xEF\xBBx\n"), (std::vector<Fields>{{"\xEF\xBBx"}}));
}

TEST(CsvTest, RaggedRowIsAnErrorNamingFileAndLine) {
    auto t = parse_csv_table("path,label\na.wav,dog\n\nb.wav\n", "m.csv");
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().code(), ErrorCode::kCorruption);
    EXPECT_NE(t.error().message().find("m.csv line 4"), std::string::npos) << t.error().message();
    EXPECT_NE(t.error().message().find("1 field(s), the header has 2"), std::string::npos);
}

TEST(CsvTest, BrokenQuotesAreErrorsNamingTheLine) {
    auto open = parse_csv("a,b\n1,\"never\nclosed\n", "q.csv");
    ASSERT_FALSE(open);
    EXPECT_EQ(open.error().code(), ErrorCode::kCorruption);
    EXPECT_NE(open.error().message().find("q.csv line 2: unterminated"), std::string::npos)
        << open.error().message();
    auto after = parse_csv("a,b\n\"x\"y,2\n", "q.csv");
    ASSERT_FALSE(after);
    EXPECT_NE(after.error().message().find("q.csv line 2: text after a closing quote"),
              std::string::npos)
        << after.error().message();
}

TEST(CsvTest, SeparatorAndComments) {
    CsvOptions tabs;
    tabs.separator = '\t';
    tabs.comments = true;
    EXPECT_EQ(fields_of("# a comment\nu1\tArtist, The\t3\n  # another\nu2\t\"q\"\t4\n", tabs),
              (std::vector<Fields>{{"u1", "Artist, The", "3"}, {"u2", "q", "4"}}));
    // Without comments, '#' is data.
    EXPECT_EQ(fields_of("#x,1\n"), (std::vector<Fields>{{"#x", "1"}}));
}

TEST(CsvTest, StreamReaderReadsRowByRow) {
    std::istringstream in("a,b\n1,2\n");
    CsvReader reader(in, "s.csv");
    CsvRow row;
    auto more = reader.next(row);
    ASSERT_TRUE(more && *more);
    EXPECT_EQ(row.fields, (Fields{"a", "b"}));
    more = reader.next(row);
    ASSERT_TRUE(more && *more);
    EXPECT_EQ(row.fields, (Fields{"1", "2"}));
    EXPECT_EQ(row.line, 2u);
    more = reader.next(row);
    ASSERT_TRUE(more);
    EXPECT_FALSE(*more);
}

TEST(CsvTest, EmptyFileHasNoHeader) {
    auto t = parse_csv_table("\n\n", "e.csv");
    ASSERT_TRUE(t);
    EXPECT_TRUE(t->header.empty());
}

}  // namespace
}  // namespace earshot
