// Click data import: CSV and JSON parsing, row checks with reasons, image matching by path and
// by pixel hash, one transaction per import, re-import refusal, and the v2 -> v3 migration.

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <fstream>
#include <opencv2/imgproc.hpp>

#include "../models/test_util.h"
#include "core/clicks/click_data.h"
#include "core/image/image_io.h"
#include "core/project/project.h"

namespace caig {
namespace {

namespace fs = std::filesystem;

cv::Mat swatch(int seed) {
  cv::Mat m(48, 64, CV_8UC3, cv::Scalar(40 * seed % 256, 90, 200 - 10 * seed));
  cv::circle(m, {32, 24}, 10 + seed % 8, cv::Scalar(255 - 20 * seed % 256, 30, 60), -1);
  return m;
}

void write(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

struct Counts {
  int64_t records, imports, products;
  bool operator==(const Counts& o) const { return records == o.records && imports == o.imports && products == o.products; }
};
Counts counts(const Project& p) {
  return {p.store().clickRecordCount(), static_cast<int64_t>(p.store().clickImports().size()),
          static_cast<int64_t>(p.store().clickProducts().size())};
}

bool hasReason(const std::vector<RejectedRow>& rows, const std::string& id, const std::string& text) {
  for (const auto& r : rows) {
    if (r.creativeId == id && r.reason.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(ClickCsv, ReadsQuotingBomCrlfSemicolonsAndHeaderSynonyms) {
  const std::string csv =
      "\xEF\xBB\xBF"
      "Ad Name;Image;Product Name;Category;Impr;Clicks;CTR\r\n"
      "\"ad; one\";a.png;\"Mug \"\"Teal\"\"\";kitchen;\"1.500\";30;0.99\r\n"
      "ad2;b.png;\"multi\nline\";kitchen;2000;25;0.5\r\n"
      "\r\n"
      "ad3;c.png;Jar;;1 200;0;\r\n";
  const ClickFile f = parseClickCsv(csv, "x.csv");
  EXPECT_EQ(f.delimiter, ';');
  EXPECT_EQ(f.columns.front(), "Ad Name");
  ASSERT_EQ(f.rows.size(), 2u) << (f.rejected.empty() ? "" : f.rejected[0].reason);
  ASSERT_EQ(f.rejected.size(), 1u);
  // "1.500" is not a whole number in either convention we accept: rejected with the reason.
  EXPECT_EQ(f.rejected[0].creativeId, "ad; one");
  EXPECT_NE(f.rejected[0].reason.find("impressions '1.500' is not a whole number"), std::string::npos)
      << f.rejected[0].reason;
  EXPECT_EQ(f.rows[0].creativeId, "ad2");
  EXPECT_EQ(f.rows[0].productKey, "multi\nline");
  EXPECT_EQ(f.rows[0].line, 3);
  EXPECT_EQ(f.rows[1].creativeId, "ad3");
  EXPECT_EQ(f.rows[1].line, 6);  // the quoted newline counts as a line; the blank one is skipped
  EXPECT_EQ(f.rows[1].impressions, 1200);
  EXPECT_EQ(f.rows[1].clicks, 0);
  // CTR comes from the counts, never from the file's column.
  EXPECT_DOUBLE_EQ(f.rows[0].ctr(), 25.0 / 2000.0);
  EXPECT_EQ(f.rowsRead, 3);

  const ClickFile q = parseClickCsv("creative_id,image_path,product_id,product_name,impressions,clicks\n"
                                    "c1,\"x,y.png\",P1,\"Mug \"\"A\"\"\",\"1,000\",10\n",
                                    "y.csv");
  ASSERT_EQ(q.rows.size(), 1u);
  EXPECT_EQ(q.delimiter, ',');
  EXPECT_EQ(q.rows[0].image, "x,y.png");
  EXPECT_EQ(q.rows[0].productKey, "P1");
  EXPECT_EQ(q.rows[0].productTitle, "Mug \"A\"");
  EXPECT_EQ(q.rows[0].impressions, 1000);
}

TEST(ClickCsv, SniffsTabsAndReadsCreativeRankingColumnNames) {
  const ClickFile f = parseClickCsv("creative_id\tcreative_image_hash\tproduct_id\texp_impression_cnt\texp_click_cnt\n"
                                    "7\tdeadbeefdeadbeef\t3\t1000\t12\n",
                                    "t.tsv");
  EXPECT_EQ(f.delimiter, '\t');
  ASSERT_EQ(f.rows.size(), 1u);
  EXPECT_EQ(f.rows[0].imageHash, "deadbeefdeadbeef");
  EXPECT_EQ(f.rows[0].impressions, 1000);
  EXPECT_EQ(f.rows[0].clicks, 12);
  EXPECT_EQ(f.rows[0].productKey, "3");
}

TEST(ClickCsv, MissingRequiredColumnListsTheAcceptedNames) {
  try {
    parseClickCsv("creative_id,image,product,clicks\nc,a.png,p,1\n", "bad.csv");
    FAIL() << "no impressions column accepted";
  } catch (const ClickImportError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("bad.csv"), std::string::npos) << what;
    EXPECT_NE(what.find("impressions: one of impressions, impr, imps, exp_impression_cnt"), std::string::npos) << what;
    EXPECT_EQ(what.find("clicks: one of"), std::string::npos) << what;
  }
  EXPECT_THROW(parseClickCsv("", "empty.csv"), ClickImportError);
  EXPECT_THROW(parseClickCsv("creative_id,image,product,impressions,clicks\n\"c,a.png,p,1,1\n", "q.csv"), ClickImportError);
}

TEST(ClickCsv, RejectsBadRowsWithReasons) {
  const ClickFile f = parseClickCsv(
      "creative_id,image,product,impressions,clicks\n"
      "ok,a.png,p,100,5\n"
      "short,a.png,p,100\n"
      "word,a.png,p,many,5\n"
      "over,a.png,p,10,20\n"
      "neg,a.png,p,-5,0\n"
      "ok,b.png,p,100,5\n"
      ",a.png,p,1,1\n"
      "noimg,,p,1,1\n"
      "noprod,a.png,,1,1\n",
      "r.csv");
  ASSERT_EQ(f.rows.size(), 1u);
  EXPECT_EQ(f.rowsRead, 9);
  EXPECT_TRUE(hasReason(f.rejected, "short", "line 3: has 4 fields, the header has 5"));
  EXPECT_TRUE(hasReason(f.rejected, "word", "impressions 'many' is not a whole number"));
  EXPECT_TRUE(hasReason(f.rejected, "over", "clicks (20) > impressions (10)"));
  EXPECT_TRUE(hasReason(f.rejected, "neg", "negative impressions"));
  EXPECT_TRUE(hasReason(f.rejected, "ok", "line 7: duplicate creative id (first on line 2)"));
  EXPECT_TRUE(hasReason(f.rejected, "", "missing creative id"));
  EXPECT_TRUE(hasReason(f.rejected, "noimg", "missing image"));
  EXPECT_TRUE(hasReason(f.rejected, "noprod", "missing product"));
}

TEST(ClickCsv, CountsAreDecimalOnly) {
  const ClickFile f = parseClickCsv(
      "creative_id,image,product,impressions,clicks\n"
      "hex,a.png,p,0x10,1\n"
      "inf,a.png,p,inf,1\n"
      "sep,a.png,p,\"1,000\",5\n"
      "exp,a.png,p,1e3,5\n",
      "n.csv");
  EXPECT_TRUE(hasReason(f.rejected, "hex", "impressions '0x10' is not a whole number"));  // strtod read 16
  EXPECT_TRUE(hasReason(f.rejected, "inf", "impressions 'inf' is not a whole number"));
  ASSERT_EQ(f.rows.size(), 2u);
  EXPECT_EQ(f.rows[0].impressions, 1000);
  EXPECT_EQ(f.rows[1].impressions, 1000);
}

TEST(ClickFiles, HostileInputGetsTheReadersErrorsNotTheLibrarys) {
  try {
    parseClickJson(R"([{"creative_id": "a", "impressions": 1e400, "clicks": 1}])", "big.json");
    FAIL() << "accepted";
  } catch (const ClickImportError& e) {
    EXPECT_NE(std::string(e.what()).find("big.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("number overflow"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parseClickJson(std::string(100000, '[') + std::string(100000, ']'), "deep.json"), ClickImportError);
  test::TempDir dir;
  try {
    readClickFile(dir.path());
    FAIL() << "a folder was read";
  } catch (const ClickImportError& e) {
    EXPECT_NE(std::string(e.what()).find("is a folder"), std::string::npos) << e.what();  // not basic_filebuf::underflow
  }
  ASSERT_EQ(::mkfifo((dir / "clicks.csv").c_str(), 0600), 0);
  EXPECT_THROW(readClickFile(dir / "clicks.csv"), ClickImportError);  // refused, not a read that never returns
}

TEST(ClickJson, ReadsTheCreativeRankingLayoutAndFlatLists) {
  const ClickFile f = parseClickJson(R"([
    {"product_id": 7, "product_name": "Mug", "category": "kitchen", "creatives": [
      {"creative_id": 1, "creative_image_hash": "00ff00ff00ff00ff", "exp_impression_cnt": 1000, "exp_click_cnt": 30},
      {"creative_id": "2", "creative_image_hash": "abc", "exp_impression_cnt": "2000", "exp_click_cnt": 3000},
      "junk"]}])",
                                     "c.json");
  ASSERT_EQ(f.rows.size(), 1u);
  EXPECT_EQ(f.rowsRead, 3);
  EXPECT_EQ(f.rows[0].creativeId, "1");
  EXPECT_EQ(f.rows[0].productKey, "7");
  EXPECT_EQ(f.rows[0].productTitle, "Mug");
  EXPECT_EQ(f.rows[0].category, "kitchen");
  EXPECT_EQ(f.rows[0].imageHash, "00ff00ff00ff00ff");
  EXPECT_EQ(f.rows[0].impressions, 1000);
  EXPECT_TRUE(hasReason(f.rejected, "2", "creative 2: clicks (3000) > impressions (2000)"));
  EXPECT_TRUE(hasReason(f.rejected, "", "creative 3: not an object"));

  const ClickFile flat = parseClickJson(
      R"([{"ad_id": "a", "image": "a.png", "sku": "s", "impressions": 5, "clicks": 1}])", "f.json");
  ASSERT_EQ(flat.rows.size(), 1u);
  EXPECT_EQ(flat.rows[0].productKey, "s");
  const ClickFile map = parseClickJson(
      R"({"P9": [{"creative_id": "m", "image_hash": "beef", "impressions": 5, "clicks": 1}]})", "m.json");
  ASSERT_EQ(map.rows.size(), 1u);
  EXPECT_EQ(map.rows[0].productKey, "P9");
  const ClickFile wrapped = parseClickJson(
      R"({"creatives": [{"creative": "w", "path": "w.png", "product": "p", "impr": 5, "clicks": 0}]})", "w.json");
  ASSERT_EQ(wrapped.rows.size(), 1u);
  EXPECT_EQ(wrapped.rows[0].image, "w.png");
  EXPECT_THROW(parseClickJson("{not json", "bad.json"), ClickImportError);
  EXPECT_THROW(parseClickJson("42", "n.json"), ClickImportError);
}

TEST(PixelHash, FollowsPixelsNotBytes) {
  test::TempDir dir;
  const cv::Mat a = swatch(1);
  saveImage(dir / "a.png", a);
  const auto bytes = encodeImage(a, ".png", 10);  // another encoding of the same pixels
  test::writeFile(dir / "b.png", std::string(bytes.begin(), bytes.end()));
  EXPECT_EQ(pixelHash(loadImage(dir / "a.png")), pixelHash(a));
  EXPECT_EQ(pixelHash(loadImage(dir / "b.png")), pixelHash(a));
  cv::Mat c = a.clone();
  c.at<cv::Vec3b>(3, 3)[0] ^= 1;
  EXPECT_NE(pixelHash(c), pixelHash(a));
  EXPECT_EQ(pixelHash(a).size(), 16u);
  // Same bytes, other shape: different.
  EXPECT_NE(pixelHash(a.reshape(3, 64)), pixelHash(a));
}

// A click folder with four images (one with a product mask) and a CSV describing them.
struct ClickFolder {
  test::TempDir dir;
  ClickFolder() {
    fs::create_directories(dir / "img");
    for (int i = 1; i <= 4; ++i) saveImage(dir / ("img/c" + std::to_string(i) + ".png"), swatch(i));
    saveImage(dir / "img/c1.alpha.png", cv::Mat(48, 64, CV_8UC1, cv::Scalar(255)));
  }
  fs::path csv(const std::string& name, const std::string& body) {
    write(dir / name, "creative_id,image_path,product_id,product_name,category,impressions,clicks\n" + body);
    return dir / name;
  }
};

TEST(ImportClicks, WritesAcceptedRowsReportsRejectedOnesAndRefusesAReimport) {
  ClickFolder folder;
  test::TempDir pdir;
  auto project = Project::create(pdir / "p");
  const fs::path file = folder.csv("clicks.csv",
                                   "c1,img/c1.png,P1,Mug,kitchen,2000,40\n"
                                   "c2,img/c2.png,P1,Mug,kitchen,2000,45\n"
                                   "c3,img/missing.png,P1,Mug,kitchen,2000,45\n"
                                   "c4,img/c4.png,P2,Jar,beauty,10,11\n"
                                   "c2,img/c3.png,P2,Jar,beauty,100,1\n"
                                   "c5,notes.txt,P2,Jar,beauty,100,1\n");
  write(folder.dir / "notes.txt", "not an image");
  ImportOptions dry;
  dry.dryRun = true;
  const ImportReport preview = importClicks(project, file, dry);
  EXPECT_EQ(preview.rowsImported, 2);
  EXPECT_TRUE(preview.dryRun);
  EXPECT_EQ(preview.importId, 0);
  EXPECT_EQ(counts(project), (Counts{0, 0, 0}));  // a dry run writes nothing

  const ImportReport r = importClicks(project, file);
  EXPECT_EQ(r.rowsRead, 6);
  EXPECT_EQ(r.rowsImported, 2);
  ASSERT_EQ(r.rejected.size(), 4u);
  EXPECT_TRUE(hasReason(r.rejected, "c5", "line 7: image does not decode"));
  EXPECT_TRUE(hasReason(r.rejected, "c3", "missing image: 'img/missing.png' not found"));
  EXPECT_TRUE(hasReason(r.rejected, "c4", "clicks (11) > impressions (10)"));
  EXPECT_TRUE(hasReason(r.rejected, "c2", "duplicate creative id"));
  EXPECT_EQ(r.imagesMatchedByPath, 2);
  EXPECT_NE(r.summary().find("6 rows read, 2 imported, 4 rejected"), std::string::npos) << r.summary();
  EXPECT_NE(r.toJson().find("\"rowsRejected\": 4"), std::string::npos);

  const auto records = project.store().clickRecords();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].creativeId, "c1");
  EXPECT_EQ(records[0].imageHash, pixelHash(swatch(1)));
  EXPECT_EQ(records[0].imagePath, "clicks/" + records[0].imageHash + ".png");
  EXPECT_TRUE(fs::exists(project.absolute(records[0].imagePath)));
  EXPECT_EQ(records[0].alphaPath, "clicks/" + records[0].imageHash + ".alpha.png");
  EXPECT_EQ(records[1].alphaPath, "");
  EXPECT_EQ(records[0].importId, std::optional<int64_t>(r.importId));
  const auto products = project.store().clickProducts();
  ASSERT_EQ(products.size(), 1u);
  EXPECT_EQ(products[0].key, "P1");
  EXPECT_EQ(products[0].title, "Mug");
  EXPECT_EQ(products[0].category, "kitchen");
  const auto imports = project.store().clickImports();
  ASSERT_EQ(imports.size(), 1u);
  EXPECT_EQ(imports[0].rowsRejected, 4);
  EXPECT_EQ(imports[0].rowsRead, 6);

  // The same bytes again: refused, nothing changes.
  const Counts before = counts(project);
  try {
    importClicks(project, file);
    FAIL() << "re-import accepted";
  } catch (const ClickImportError& e) {
    EXPECT_NE(std::string(e.what()).find("already imported"), std::string::npos) << e.what();
  }
  EXPECT_EQ(counts(project), before);
  // Another file naming a creative already imported: that row is a duplicate.
  const ImportReport again = importClicks(project, folder.csv("more.csv", "c1,img/c1.png,P1,Mug,kitchen,3000,60\n"
                                                                          "c9,img/c3.png,P1,Mug,kitchen,3000,61\n"));
  EXPECT_EQ(again.rowsImported, 1);
  EXPECT_TRUE(hasReason(again.rejected, "c1", "already in the project"));
  EXPECT_EQ(project.store().clickRecordCount(), 3);
}

TEST(ImportClicks, AFatalErrorWritesNothing) {
  ClickFolder folder;
  test::TempDir pdir;
  auto project = Project::create(pdir / "p");
  importClicks(project, folder.csv("first.csv", "c1,img/c1.png,P1,Mug,kitchen,2000,40\n"));
  const Counts before = counts(project);
  write(folder.dir / "bad.csv", "creative_id,image_path,product_id,impressions,clicks\n"
                                "c2,img/c2.png,P1,2000,40\n"
                                "c3,\"img/c3.png,P1,2000,40\n");  // never-closed quote
  EXPECT_THROW(importClicks(project, folder.dir / "bad.csv"), ClickImportError);
  write(folder.dir / "nocol.csv", "creative_id,image_path,product_id,clicks\nc2,img/c2.png,P1,40\n");
  EXPECT_THROW(importClicks(project, folder.dir / "nocol.csv"), ClickImportError);
  write(folder.dir / "bad.json", "[{\"creatives\": 5}]");
  EXPECT_THROW(importClicks(project, folder.dir / "bad.json"), ClickImportError);
  EXPECT_THROW(importClicks(project, folder.dir / "absent.csv"), ClickImportError);
  EXPECT_EQ(counts(project), before);
}

TEST(ImportClicks, IsOneTransaction) {
  ClickFolder folder;
  test::TempDir pdir;
  auto project = Project::create(pdir / "p");
  const fs::path file = folder.csv("clicks.csv",
                                   "c1,img/c1.png,P1,Mug,kitchen,2000,40\n"
                                   "c2,img/c2.png,P1,Mug,kitchen,2000,45\n"
                                   "c3,img/c3.png,P2,Jar,beauty,2000,45\n"
                                   "c4,img/c4.png,P2,Jar,beauty,2000,50\n");
  ImportOptions failing;
  failing.beforeRecord = [](int i) {
    if (i == 2) throw StoreError("simulated failure while writing record 3");
  };
  EXPECT_THROW(importClicks(project, file, failing), StoreError);
  EXPECT_EQ(counts(project), (Counts{0, 0, 0}));
  // The failed import did not mark the file as imported: a retry works.
  ImportOptions withProgress;
  std::vector<std::pair<int, int>> calls;
  withProgress.progress = [&](int done, int total) { calls.emplace_back(done, total); };
  const ImportReport r = importClicks(project, file, withProgress);
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back(), std::make_pair(8, 8));  // 4 rows checked, 4 written
  for (std::size_t i = 1; i < calls.size(); ++i) EXPECT_GE(calls[i].first, calls[i - 1].first);
  EXPECT_EQ(r.rowsImported, 4);
  EXPECT_EQ(counts(project), (Counts{4, 1, 2}));
}

TEST(ImportClicks, MatchesImagesByPixelHash) {
  ClickFolder folder;
  test::TempDir pdir;
  auto project = Project::create(pdir / "p");
  // A product shot already in the project, found by the hash of its pixels.
  saveImage(pdir / "shot.png", swatch(7));
  const Product shot = project.importProductShot(pdir / "shot.png", "Studio mug", "kitchen");
  write(folder.dir / "c.json", R"({"products": [{"product_id": "Studio mug", "creatives": [
      {"creative_id": "h1", "creative_image_hash": ")" + pixelHash(swatch(2)) + R"(", "exp_impression_cnt": 1000, "exp_click_cnt": 30},
      {"creative_id": "h2", "creative_image_hash": ")" + pixelHash(swatch(7)) + R"(", "exp_impression_cnt": 1000, "exp_click_cnt": 31},
      {"creative_id": "h3", "creative_image_hash": "0123456789abcdef", "exp_impression_cnt": 1000, "exp_click_cnt": 32},
      {"creative_id": "h4", "creative_image_hash": "c3", "exp_impression_cnt": 1000, "exp_click_cnt": 33}]}]})");
  // img/ is not one of the searched folders: copy c2 and c3 next to the file.
  fs::copy_file(folder.dir / "img/c2.png", folder.dir / "anything.png");
  fs::create_directories(folder.dir / "images");
  fs::copy_file(folder.dir / "img/c3.png", folder.dir / "images/c3.png");
  const ImportReport r = importClicks(project, folder.dir / "c.json");
  EXPECT_EQ(r.imagesMatchedByHash, 3);
  ASSERT_EQ(r.rejected.size(), 1u);
  EXPECT_TRUE(hasReason(r.rejected, "h3", "no image with hash 0123456789abcdef"));
  const auto records = project.store().clickRecords();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].imageHash, pixelHash(swatch(2)));
  EXPECT_TRUE(fs::exists(project.absolute(records[0].imagePath)));
  EXPECT_EQ(records[1].imagePath, shot.imagePath);  // reused, not copied
  EXPECT_EQ(records[1].productId, std::optional<int64_t>(shot.id));  // product key = its title
  EXPECT_EQ(records[2].imageHash, pixelHash(swatch(3)));  // by file stem (CreativeRanking style)
}

// The version-2 schema as released (migrations 0 and 1), with one click record.
const char* const kV2Schema = R"sql(
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE products (id INTEGER PRIMARY KEY, title TEXT NOT NULL DEFAULT '', category TEXT NOT NULL DEFAULT '',
  image_path TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
  cutout_path TEXT NOT NULL DEFAULT '', cutout_engine TEXT NOT NULL DEFAULT '');
CREATE TABLE prompts (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
  text TEXT NOT NULL, source TEXT NOT NULL, pinned INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')));
CREATE TABLE variants (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
  prompt_id INTEGER REFERENCES prompts(id) ON DELETE SET NULL, image_path TEXT NOT NULL, seed INTEGER NOT NULL,
  params_json TEXT NOT NULL DEFAULT '{}', favourite INTEGER NOT NULL DEFAULT 0,
  score REAL, rank INTEGER, win_probability REAL, ranker_id TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')));
CREATE INDEX variants_by_product ON variants(product_id);
CREATE TABLE click_records (id INTEGER PRIMARY KEY, creative_id TEXT NOT NULL UNIQUE,
  product_id INTEGER REFERENCES products(id) ON DELETE SET NULL, product_key TEXT NOT NULL DEFAULT '',
  image_path TEXT NOT NULL DEFAULT '', image_hash TEXT NOT NULL DEFAULT '',
  impressions INTEGER NOT NULL CHECK (impressions >= 0),
  clicks INTEGER NOT NULL CHECK (clicks >= 0 AND clicks <= impressions),
  imported_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')));
CREATE TABLE models (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, path TEXT NOT NULL UNIQUE,
  precision TEXT NOT NULL DEFAULT '', added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')));
CREATE TABLE training_runs (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, config_json TEXT NOT NULL DEFAULT '{}',
  status TEXT NOT NULL, metrics_json TEXT NOT NULL DEFAULT '{}',
  started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')), finished_at TEXT NOT NULL DEFAULT '');
INSERT INTO click_records(creative_id, product_key, image_path, image_hash, impressions, clicks)
  VALUES ('old-1', 'sku-9', 'a.png', 'abcd', 1500, 30), ('old-2', 'sku-9', 'b.png', 'ef01', 1500, 40);
PRAGMA application_id = 1128352071;
PRAGMA user_version = 2;
)sql";

TEST(ImportClicks, RefusesUtf16AndLatin1FilesWritingNothingButTakesUtf8WithOrWithoutBom) {
  ClickFolder folder;
  test::TempDir pdir;
  auto project = Project::create(pdir / "p");
  const Counts before = counts(project);
  const std::string header = "creative_id,image_path,product_id,product_name,category,impressions,clicks\n";
  // UTF-16 LE with BOM: every ASCII byte followed by a zero.
  std::string utf16 = "\xFF\xFE";
  for (char c : header + "c1,img/c1.png,P1,Cr\xC3\xA8me,beauty,100,4\n") {
    utf16 += c;
    utf16 += '\0';
  }
  write(folder.dir / "u16.csv", utf16);
  try {
    importClicks(project, folder.dir / "u16.csv");
    ADD_FAILURE() << "UTF-16 accepted";
  } catch (const ClickImportError& e) {
    EXPECT_NE(std::string(e.what()).find("UTF-16"), std::string::npos) << e.what();
  }
  // Latin-1: "Crème" as the single byte 0xE8, on line 3.
  write(folder.dir / "latin1.csv", header + "c1,img/c1.png,P1,Mug,kitchen,100,4\nc2,img/c2.png,P2,Cr\xE8me,beauty,100,4\n");
  try {
    importClicks(project, folder.dir / "latin1.csv");
    ADD_FAILURE() << "Latin-1 accepted";
  } catch (const ClickImportError& e) {
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("UTF-8"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parseClickJson("[{\"creative_id\": \"c\xE8\"}]"), ClickImportError);
  EXPECT_EQ(counts(project), before);

  const fs::path plain = folder.csv("utf8.csv", "c1,img/c1.png,P1,Cr\xC3\xA8me \xE2\x82\xAC\xF0\x9F\x98\x80,beauty,100,4\n");
  write(folder.dir / "bom.csv", "\xEF\xBB\xBF" + header + "c2,img/c2.png,P2,Cr\xC3\xA8me,beauty,100,4\n");
  EXPECT_EQ(importClicks(project, plain).rowsImported, 1);
  EXPECT_EQ(importClicks(project, folder.dir / "bom.csv").rowsImported, 1);
  bool found = false;
  for (const auto& cp : project.store().clickProducts()) found = found || cp.title == "Cr\xC3\xA8me \xE2\x82\xAC\xF0\x9F\x98\x80";
  EXPECT_TRUE(found);
}

// Zero impressions (and so zero clicks) is a valid row: kept, with CTR 0. It never forms a
// pair, since pairs need min impressions (see click_pairs).
TEST(ClickCsv, KeepsARowWithZeroImpressions) {
  const ClickFile f = parseClickCsv(
      "creative_id,image_path,product_id,impressions,clicks\n"
      "c1,a.png,P1,0,0\n"
      "c2,b.png,P1,0,1\n");
  ASSERT_EQ(f.rows.size(), 1u);
  EXPECT_EQ(f.rows[0].creativeId, "c1");
  EXPECT_EQ(f.rows[0].impressions, 0);
  EXPECT_EQ(f.rows[0].ctr(), 0.0);
  EXPECT_TRUE(hasReason(f.rejected, "c2", "clicks (1) > impressions (0)"));
}

TEST(ProjectStoreV3, MigratesAVersionTwoFileKeepingItsClickRecords) {
  test::TempDir dir;
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "v2.caig").c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  ASSERT_EQ(sqlite3_exec(db, kV2Schema, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_close(db);

  auto store = ProjectStore::open(dir / "v2.caig");
  EXPECT_EQ(store.schemaVersion(), ProjectStore::kSchemaVersion);  // through 3 (click tables) to the newest
  const auto records = store.clickRecords();
  ASSERT_EQ(records.size(), 2u);
  const auto products = store.clickProducts();
  ASSERT_EQ(products.size(), 1u);
  EXPECT_EQ(products[0].key, "sku-9");
  EXPECT_EQ(records[0].clickProductId, std::optional<int64_t>(products[0].id));
  EXPECT_EQ(records[1].clickProductId, std::optional<int64_t>(products[0].id));
  EXPECT_EQ(records[0].impressions, 1500);
  EXPECT_FALSE(records[0].importId.has_value());
  EXPECT_TRUE(store.clickImports().empty());
  // The new tables work on the migrated file.
  const int64_t imp = store.addClickImport({0, "x.csv", "hash", "csv", 1, 1, 0, ""});
  ClickRecord r;
  r.creativeId = "new";
  r.productKey = "sku-9";
  r.impressions = 10;
  r.clicks = 1;
  r.importId = imp;
  r.clickProductId = products[0].id;
  store.addClickRecord(r);
  EXPECT_EQ(store.clickRecordCount(), 3);
  EXPECT_TRUE(store.clickImportByHash("hash").has_value());
}

}  // namespace
}  // namespace caig
