// The SQLite project store: persistence, transactions, schema versions, foreign keys.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "../models/test_util.h"
#include "core/project_store.h"

namespace caig {
namespace {

TEST(ProjectStore, PersistsEveryRecordKindAcrossReopen) {
  test::TempDir dir;
  const auto db = dir / "p.caig";
  int64_t productId = 0, variantId = 0, runId = 0;
  {
    auto store = ProjectStore::open(db);
    EXPECT_EQ(store.schemaVersion(), ProjectStore::kSchemaVersion);
    productId = store.addProduct({0, "Amber Eau de Parfum", "fragrance", "products/a.png", "", "", ""});
    const int64_t promptId = store.addPrompt({0, productId, "marble podium, soft light", "builtin", false});
    store.setPromptPinned(promptId, true);
    Variant v;
    v.productId = productId;
    v.promptId = promptId;
    v.imagePath = "variants/1.png";
    v.seed = 42;
    v.paramsJson = R"({"steps":30})";
    variantId = store.addVariant(v);
    store.setRanking(variantId, 1.25, 1, 0.7, "builtin-ranker@1");
    store.addClickRecord({0, "cr-1", productId, "sku-9", "a.png", "abcd", 1500, 30, std::nullopt, std::nullopt, "", ""});
    store.registerModel({0, "sd15", "majicMIX v7", "/models/sd", "fp16"});
    store.registerModel({0, "sd15", "majicMIX v7 (renamed)", "/models/sd", "fp32"});  // same path: updated
    runId = store.startTrainingRun({0, "builtin-ranker", R"({"l2":1})", "", "", "", ""});
    store.finishTrainingRun(runId, "finished", R"({"accuracy":0.61})");
    store.setSetting("seed.mode", "increment");
  }
  auto store = ProjectStore::open(db);
  const auto products = store.products();
  ASSERT_EQ(products.size(), 1u);
  EXPECT_EQ(products[0].title, "Amber Eau de Parfum");
  EXPECT_FALSE(products[0].createdAt.empty());
  const auto prompts = store.prompts(productId);
  ASSERT_EQ(prompts.size(), 1u);
  EXPECT_TRUE(prompts[0].pinned);
  const auto variants = store.variants(productId);
  ASSERT_EQ(variants.size(), 1u);
  EXPECT_EQ(variants[0].seed, 42);
  EXPECT_EQ(variants[0].rank, 1);
  EXPECT_DOUBLE_EQ(*variants[0].winProbability, 0.7);
  EXPECT_EQ(variants[0].rankerId, "builtin-ranker@1");
  EXPECT_EQ(store.clickRecords().at(0).clicks, 30);
  ASSERT_EQ(store.models().size(), 1u);
  EXPECT_EQ(store.models()[0].precision, "fp32");
  EXPECT_EQ(store.trainingRuns().at(0).status, "finished");
  EXPECT_FALSE(store.trainingRuns().at(0).finishedAt.empty());
  EXPECT_EQ(store.setting("seed.mode"), "increment");
  EXPECT_FALSE(store.setting("absent").has_value());
}

TEST(ProjectStore, UsesWalAndForeignKeys) {
  test::TempDir dir;
  auto store = ProjectStore::open(dir / "p.caig");
  EXPECT_TRUE(std::filesystem::exists(dir / "p.caig-wal"));
  const int64_t id = store.addProduct({0, "t", "", "x.png", "", "", ""});
  store.addPrompt({0, id, "p", "user", false});
  Variant v;
  v.productId = id;
  v.imagePath = "v.png";
  store.addVariant(v);
  store.removeProduct(id);  // cascades
  EXPECT_TRUE(store.prompts(id).empty());
  EXPECT_TRUE(store.variants(id).empty());
  EXPECT_THROW(store.addPrompt({0, 999, "orphan", "user", false}), StoreError);
}

TEST(ProjectStore, TransactionsAreAllOrNothing) {
  test::TempDir dir;
  auto store = ProjectStore::open(dir / "p.caig");
  EXPECT_THROW(store.transaction([&] {
    store.addProduct({0, "first", "", "a.png", "", "", ""});
    store.transaction([&] { store.addProduct({0, "nested", "", "b.png", "", "", ""}); });
    store.addClickRecord({0, "bad", std::nullopt, "", "", "", 10, 20, std::nullopt, std::nullopt, "", ""});  // clicks > impressions
  }),
               StoreError);
  EXPECT_TRUE(store.products().empty());
  EXPECT_TRUE(store.clickRecords().empty());

  store.transaction([&] {
    store.addProduct({0, "kept", "", "a.png", "", "", ""});
    EXPECT_THROW(store.transaction([&] { throw std::runtime_error("inner fails"); }), std::runtime_error);
  });
  ASSERT_EQ(store.products().size(), 1u);  // the inner failure rolled back the inner part only
  EXPECT_THROW(store.addClickRecord({0, "neg", std::nullopt, "", "", "", -1, 0, std::nullopt, std::nullopt, "", ""}), StoreError);
}

TEST(ProjectStore, RefusesForeignAndNewerFiles) {
  test::TempDir dir;
  test::writeFile(dir / "garbage.caig", std::string(4096, 'x'));
  EXPECT_THROW(ProjectStore::open(dir / "garbage.caig"), StoreError);

  sqlite3* db = nullptr;
  sqlite3_open((dir / "other.db").c_str(), &db);
  sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  try {
    ProjectStore::open(dir / "other.db");
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("not a CAIG Studio project"), std::string::npos) << e.what();
  }

  { ProjectStore::open(dir / "new.caig"); }
  sqlite3_open((dir / "new.caig").c_str(), &db);
  sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  try {
    ProjectStore::open(dir / "new.caig");
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("schema version 99"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ProjectStore::open(dir / "no/such/dir/p.caig"), StoreError);
}

TEST(ProjectStore, MigratesAVersionOneProjectKeepingItsData) {
  test::TempDir dir;
  { ProjectStore::open(dir / "old.caig"); }
  // Turn the file back into what version 1 wrote: no click tables of version 3 (click_records
  // as version 1 created it), no cutout columns, one product.
  sqlite3* db = nullptr;
  sqlite3_open((dir / "old.caig").c_str(), &db);
  ASSERT_EQ(sqlite3_exec(db,
                         "DROP TABLE click_records; DROP TABLE click_imports; DROP TABLE click_products;"
                         "CREATE TABLE click_records (id INTEGER PRIMARY KEY, creative_id TEXT NOT NULL UNIQUE,"
                         " product_id INTEGER REFERENCES products(id) ON DELETE SET NULL,"
                         " product_key TEXT NOT NULL DEFAULT '', image_path TEXT NOT NULL DEFAULT '',"
                         " image_hash TEXT NOT NULL DEFAULT '', impressions INTEGER NOT NULL,"
                         " clicks INTEGER NOT NULL, imported_at TEXT NOT NULL DEFAULT '');"
                         "ALTER TABLE products DROP COLUMN cutout_path;"
                         "ALTER TABLE products DROP COLUMN cutout_engine;"
                         "INSERT INTO products(title, image_path) VALUES ('Old mug', 'products/m.png');"
                         "PRAGMA user_version = 1;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);

  auto store = ProjectStore::open(dir / "old.caig");
  EXPECT_EQ(store.schemaVersion(), ProjectStore::kSchemaVersion);
  const auto products = store.products();
  ASSERT_EQ(products.size(), 1u);
  EXPECT_EQ(products[0].title, "Old mug");
  EXPECT_EQ(products[0].cutoutPath, "");
  Product p = products[0];
  p.cutoutPath = "products/m.alpha.png";
  p.cutoutEngine = "grabcut";
  store.updateProduct(p);
  EXPECT_EQ(store.product(p.id)->cutoutEngine, "grabcut");
}

}  // namespace
}  // namespace caig
