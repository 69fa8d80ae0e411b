// UTF-8 validation for text the studio stores or prints (core/base/utf8.h), by Unicode's rules
// for well-formed sequences.

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "core/base/utf8.h"

namespace caig {
namespace {

TEST(Utf8, AcceptsWellFormedTextOfEveryLength) {
  const std::string text = "plain, caf\xc3\xa9, \xe2\x82\xac 5, \xf0\x9f\x8d\xb5 tea, \xf4\x8f\xbf\xbf";
  EXPECT_EQ(firstInvalidUtf8(text), std::string::npos);
  EXPECT_EQ(firstInvalidUtf8(""), std::string::npos);
  EXPECT_NO_THROW(requireUtf8(text, "the title"));
  EXPECT_EQ(utf8Lossy(text), text);
}

TEST(Utf8, RefusesIllFormedSequencesAtTheirFirstByte) {
  struct Case {
    std::string bytes;
    std::size_t at;
  };
  for (const Case& c : {Case{"Caf\xe9", 3},                 // Latin-1
                        Case{"ab\xc0\xaf", 2},              // overlong '/'
                        Case{"\xe0\x80\xaf", 0},            // overlong, 3 bytes
                        Case{"x\xed\xa0\x80", 1},           // a UTF-16 surrogate
                        Case{"\xf4\x90\x80\x80", 0},        // above U+10FFFF
                        Case{"ok \xe2\x82", 3},             // truncated at the end
                        Case{"\x80 stray continuation", 0}, Case{"\xff", 0}}) {
    EXPECT_EQ(firstInvalidUtf8(c.bytes), c.at) << c.bytes;
  }
  try {
    requireUtf8("Caf\xe9", "the product title");
    FAIL() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("the product title is not valid UTF-8 text (byte 4 of 4)"), std::string::npos)
        << e.what();
  }
}

TEST(Utf8, LossyReplacesEachBadByteWithTheReplacementCharacter) {
  EXPECT_EQ(utf8Lossy("Caf\xe9 au lait"), "Caf\xef\xbf\xbd au lait");
  EXPECT_EQ(utf8Lossy("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(firstInvalidUtf8(utf8Lossy("\xff\xfe mixed \xe2\x82 end")), std::string::npos);
}

}  // namespace
}  // namespace caig
