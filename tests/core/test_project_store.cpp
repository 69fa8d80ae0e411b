// The SQLite project store: persistence, transactions, schema versions, foreign keys.

#include <gtest/gtest.h>
#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>
#include <sqlite3.h>

#include "../models/test_util.h"
#include "core/base/version.h"
#include "core/project/project_store.h"

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
    store.setRanking(variantId, {1.25, 1, 0.7, "builtin-ranker@1", 0.25, 0.85, 0.3, {}, std::nullopt});
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
  EXPECT_DOUBLE_EQ(*variants[0].stdError, 0.25);
  EXPECT_DOUBLE_EQ(*variants[0].vsOriginal, 0.85);
  EXPECT_DOUBLE_EQ(*variants[0].vsOriginalStdError, 0.3);
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

TEST(ProjectStore, RecordsWhichStudioVersionCreatedAndLastWroteIt) {
  test::TempDir dir;
  const auto db = dir / "p.caig";
  const std::string before = studioCommit();
  setStudioCommit("1111aaaa2222");
  { ProjectStore::open(db); }
  {
    const auto store = ProjectStore::open(db, ProjectStore::Access::ReadOnly);
    EXPECT_EQ(store.setting("created_with"), studioVersion() + " (git 1111aaaa2222)");
    EXPECT_EQ(store.setting("written_with"), studioVersion() + " (git 1111aaaa2222)");
  }
  // Another build opens it for writing: the writer changes, the creator stays. Opening it
  // read-only records nothing.
  setStudioCommit("3333bbbb4444-dirty");
  { ProjectStore::open(db, ProjectStore::Access::ReadOnly); }
  EXPECT_EQ(ProjectStore::open(db, ProjectStore::Access::ReadOnly).setting("written_with"),
            studioVersion() + " (git 1111aaaa2222)");
  { ProjectStore::open(db); }
  const auto store = ProjectStore::open(db, ProjectStore::Access::ReadOnly);
  EXPECT_EQ(store.setting("created_with"), studioVersion() + " (git 1111aaaa2222)");
  EXPECT_EQ(store.setting("written_with"), studioVersion() + " (git 3333bbbb4444-dirty)");
  setStudioCommit(before);
  EXPECT_EQ(studioVersionLine(), before.empty() ? studioVersion() : studioVersion() + " (git " + before + ")");
}

// What schema 5 added (the CTR readout's columns), dropped again to make an older file.
constexpr const char* kDropSchema5 =
    "ALTER TABLE variants DROP COLUMN std_error; ALTER TABLE variants DROP COLUMN vs_original;"
    "ALTER TABLE variants DROP COLUMN vs_original_std_error;"
    "ALTER TABLE variants DROP COLUMN uncertainty_basis; ALTER TABLE variants DROP COLUMN ctr_scale;";

TEST(ProjectStore, MigratesAVersionOneProjectKeepingItsData) {
  test::TempDir dir;
  { ProjectStore::open(dir / "old.caig"); }
  // Turn the file back into what version 1 wrote: no click tables of version 3 (click_records
  // as version 1 created it), no cutout columns, one product.
  sqlite3* db = nullptr;
  sqlite3_open((dir / "old.caig").c_str(), &db);
  ASSERT_EQ(sqlite3_exec(db, kDropSchema5, nullptr, nullptr, nullptr), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db,
                   "DROP TABLE click_records; DROP TABLE click_imports; DROP TABLE click_products;"
                   "DROP TABLE product_placements;"
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

// Editing a prompt: the text is trimmed and stored; a generated prompt becomes the user's, naming
// what it was edited from; pinning and the id stay; it all survives a reopen.
TEST(ProjectStore, EditsPromptTextAndMarksGeneratedPromptsAsEdited) {
  test::TempDir dir;
  const auto db = dir / "p.caig";
  int64_t productId = 0, builtinId = 0, llavaId = 0, userId = 0, untouchedId = 0;
  {
    auto store = ProjectStore::open(db);
    productId = store.addProduct({0, "Teal Mug", "kitchen", "products/m.png", "", "", ""});
    builtinId = store.addPrompt({0, productId, "marble podium, soft light", "builtin", true});
    llavaId = store.addPrompt({0, productId, "wooden table, morning sun", "llava: llava-v1.6-vicuna-7b", false});
    userId = store.addPrompt({0, productId, "my own beach", "user", false});
    untouchedId = store.addPrompt({0, productId, "linen backdrop", "builtin", false});

    Variant v;  // a built-in variant: its params name no prompt
    v.productId = productId;
    v.promptId = builtinId;
    v.imagePath = "variants/1.png";
    v.paramsJson = R"({"engine":"builtin","style":"marble"})";
    store.addVariant(v);

    store.setPromptText(builtinId, "  white marble podium, soft window light\n");
    store.setPromptText(builtinId, "white marble podium, soft north light");
    store.setPromptText(llavaId, "oak table, morning sun");
    store.setPromptText(llavaId, "oak table, low morning sun");  // a second edit: still from LLaVA
    store.setPromptText(userId, "my own beach at dusk");
    store.setPromptText(untouchedId, " linen backdrop ");  // same text once trimmed: not an edit
  }
  auto store = ProjectStore::open(db);
  const auto prompts = store.prompts(productId);
  ASSERT_EQ(prompts.size(), 4u);
  EXPECT_EQ(prompts[0].id, builtinId);
  EXPECT_EQ(prompts[0].text, "white marble podium, soft north light");
  EXPECT_EQ(prompts[0].source, "user (edited from builtin)");
  EXPECT_TRUE(prompts[0].pinned);
  EXPECT_EQ(prompts[1].text, "oak table, low morning sun");
  EXPECT_EQ(prompts[1].source, "user (edited from llava: llava-v1.6-vicuna-7b)");
  EXPECT_FALSE(prompts[1].pinned);
  EXPECT_EQ(prompts[2].text, "my own beach at dusk");
  EXPECT_EQ(prompts[2].source, "user");
  EXPECT_EQ(prompts[3].text, "linen backdrop");
  EXPECT_EQ(prompts[3].source, "builtin");
  // The variant remembers the text it was made with (the first one), and still links to the prompt.
  const auto variants = store.variants(productId);
  ASSERT_EQ(variants.size(), 1u);
  EXPECT_EQ(variants[0].promptId, builtinId);
  EXPECT_EQ(variants[0].paramsJson, R"({"engine":"builtin","style":"marble","prompt":"marble podium, soft light"})");
}

TEST(ProjectStore, RefusesEmptyPromptTextAndUnknownPrompts) {
  test::TempDir dir;
  auto store = ProjectStore::open(dir / "p.caig");
  const int64_t productId = store.addProduct({0, "Teal Mug", "", "products/m.png", "", "", ""});
  const int64_t id = store.addPrompt({0, productId, "marble podium", "builtin", false});
  EXPECT_THROW(store.setPromptText(id, ""), std::invalid_argument);
  EXPECT_THROW(store.setPromptText(id, " \t\n  "), std::invalid_argument);
  EXPECT_THROW(store.setPromptText(id + 100, "a new text"), StoreError);
  EXPECT_THROW(store.deletePrompt(id + 100), StoreError);
  const auto prompts = store.prompts(productId);
  ASSERT_EQ(prompts.size(), 1u);  // nothing lost, nothing changed
  EXPECT_EQ(prompts[0].text, "marble podium");
  EXPECT_EQ(prompts[0].source, "builtin");
}

// Deleting a prompt keeps the variants rendered from it (their params hold the prompt text) and
// only drops their link to it; other prompts and their variants are untouched.
TEST(ProjectStore, DeletingAPromptKeepsItsVariants) {
  test::TempDir dir;
  const auto db = dir / "p.caig";
  int64_t productId = 0, goneId = 0, keptId = 0;
  {
    auto store = ProjectStore::open(db);
    productId = store.addProduct({0, "Teal Mug", "", "products/m.png", "", "", ""});
    goneId = store.addPrompt({0, productId, "marble podium", "builtin", true});
    keptId = store.addPrompt({0, productId, "oak table", "user", false});
    // An SD variant (its params hold the prompt), a built-in one (they do not), one of the other prompt.
    const std::pair<int64_t, std::string> made[] = {{goneId, R"({"engine":"sd15","prompt":"marble podium"})"},
                                                    {goneId, R"({"engine":"builtin"})"},
                                                    {keptId, R"({"engine":"sd15","prompt":"oak table"})"}};
    for (const auto& [promptId, params] : made) {
      Variant v;
      v.productId = productId;
      v.promptId = promptId;
      v.imagePath = "variants/" + std::to_string(store.variants(productId).size()) + ".png";
      v.paramsJson = params;
      store.addVariant(v);
    }
    // Inside a transaction that fails, the delete is undone with it.
    EXPECT_THROW(store.transaction([&] {
      store.deletePrompt(goneId);
      throw std::runtime_error("the surrounding work fails");
    }),
                 std::runtime_error);
    ASSERT_EQ(store.prompts(productId).size(), 2u);
    EXPECT_EQ(store.variants(productId)[1].promptId, goneId);
    EXPECT_EQ(store.variants(productId)[1].paramsJson, R"({"engine":"builtin"})");

    store.deletePrompt(goneId);
  }
  auto store = ProjectStore::open(db);
  const auto prompts = store.prompts(productId);
  ASSERT_EQ(prompts.size(), 1u);
  EXPECT_EQ(prompts[0].id, keptId);
  const auto variants = store.variants(productId);
  ASSERT_EQ(variants.size(), 3u);
  EXPECT_FALSE(variants[0].promptId.has_value());
  EXPECT_FALSE(variants[1].promptId.has_value());
  EXPECT_EQ(variants[0].paramsJson, R"({"engine":"sd15","prompt":"marble podium"})");
  EXPECT_EQ(variants[1].paramsJson, R"({"engine":"builtin","prompt":"marble podium"})");
  EXPECT_EQ(variants[2].paramsJson, R"({"engine":"sd15","prompt":"oak table"})");
  EXPECT_EQ(variants[2].promptId, keptId);
  EXPECT_THROW(store.deletePrompt(goneId), StoreError);  // already gone
}

// A placement override per product: stored, replaced, reset, removed with its product, refused
// when it is not a placement, and kept across a reopen.
TEST(ProjectStore, StoresAPlacementOverridePerProduct) {
  test::TempDir dir;
  const auto db = dir / "p.caig";
  int64_t mug = 0, vase = 0;
  {
    auto store = ProjectStore::open(db);
    mug = store.addProduct({0, "Mug", "kitchen", "products/mug.png", "", "", ""});
    vase = store.addProduct({0, "Vase", "home", "products/vase.png", "", "", ""});
    EXPECT_FALSE(store.placement(mug).has_value());
    store.setPlacement(mug, PlacementOverride{0.5, 0.125, -0.25});
    store.setPlacement(mug, PlacementOverride{1.25, -0.1, 0.2});  // replaces, one row per product
    store.setPlacement(vase, PlacementOverride{2.0, 0.0, 0.0});
    EXPECT_THROW(store.setPlacement(mug, PlacementOverride{0.0, 0.0, 0.0}), std::invalid_argument);
    EXPECT_THROW(store.setPlacement(mug, PlacementOverride{1.0, std::nan(""), 0.0}), std::invalid_argument);
    EXPECT_THROW(store.setPlacement(9999, PlacementOverride{}), StoreError);
    EXPECT_EQ(store.placement(mug), (PlacementOverride{1.25, -0.1, 0.2}));  // the refused ones changed nothing
  }
  auto store = ProjectStore::open(db);
  EXPECT_EQ(store.placement(mug), (PlacementOverride{1.25, -0.1, 0.2}));
  EXPECT_EQ(store.placement(vase), (PlacementOverride{2.0, 0.0, 0.0}));
  store.setPlacement(mug, std::nullopt);
  EXPECT_FALSE(store.placement(mug).has_value());
  store.setPlacement(mug, std::nullopt);  // resetting a default is not an error
  store.removeProduct(vase);
  EXPECT_FALSE(store.placement(vase).has_value());
}

// A version 3 project (before placements) opens, keeps its products and cutouts, and takes a
// placement afterwards.
TEST(ProjectStore, MigratesAVersionThreeProjectToPlacements) {
  test::TempDir dir;
  int64_t id = 0;
  {
    auto store = ProjectStore::open(dir / "v3.caig");
    id = store.addProduct({0, "Bottle", "drinks", "products/b.png", "", "products/b.alpha.png", "isnet"});
    store.addPrompt({0, id, "on a beach", "user", true});
  }
  sqlite3* db = nullptr;
  sqlite3_open((dir / "v3.caig").c_str(), &db);
  ASSERT_EQ(sqlite3_exec(db, kDropSchema5, nullptr, nullptr, nullptr), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db,
                   "DROP TABLE product_placements;"
                   "PRAGMA user_version = 3;",
                   nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);

  auto store = ProjectStore::open(dir / "v3.caig");
  EXPECT_EQ(store.schemaVersion(), ProjectStore::kSchemaVersion);
  const auto p = store.product(id);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->title, "Bottle");
  EXPECT_EQ(p->cutoutEngine, "isnet");
  ASSERT_EQ(store.prompts(id).size(), 1u);
  EXPECT_TRUE(store.prompts(id)[0].pinned);
  EXPECT_FALSE(store.placement(id).has_value());
  store.setPlacement(id, PlacementOverride{0.8, 0.05, 0.0});
  EXPECT_EQ(store.placement(id), (PlacementOverride{0.8, 0.05, 0.0}));
}

// A version 4 project (rankings without the readout's numbers) opens with its rankings; the
// readout's columns are empty until the variants are ranked again.
TEST(ProjectStore, MigratesAVersionFourProjectToTheReadoutColumns) {
  test::TempDir dir;
  int64_t variantId = 0;
  {
    auto store = ProjectStore::open(dir / "v4.caig");
    const int64_t id = store.addProduct({0, "Bottle", "drinks", "products/b.png", "", "", ""});
    Variant v;
    v.productId = id;
    v.imagePath = "variants/a.png";
    variantId = store.addVariant(v);
    store.setRanking(variantId, {0.5, 1, 0.3, "builtin@1", 0, 0, 0, {}, std::nullopt});
  }
  sqlite3* db = nullptr;
  sqlite3_open((dir / "v4.caig").c_str(), &db);
  ASSERT_EQ(sqlite3_exec(db, kDropSchema5, nullptr, nullptr, nullptr), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db,
                   "PRAGMA user_version = 4;",
                   nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  auto store = ProjectStore::open(dir / "v4.caig");
  EXPECT_EQ(store.schemaVersion(), ProjectStore::kSchemaVersion);
  auto v = store.variant(variantId);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->rank, 1);
  EXPECT_DOUBLE_EQ(*v->winProbability, 0.3);
  EXPECT_FALSE(v->stdError || v->vsOriginal || v->vsOriginalStdError);
  EXPECT_TRUE(v->uncertaintyBasis.empty());
  EXPECT_FALSE(v->ctrScale.has_value());
  store.setRanking(variantId, {0.5, 1, 0.3, "builtin@1", 0.2, -0.85, 0.4, {0.25, -1.5, 1e-300}, 0.125});
  v = store.variant(variantId);
  EXPECT_DOUBLE_EQ(*v->vsOriginalStdError, 0.4);
  EXPECT_DOUBLE_EQ(*v->ctrScale, 0.125);
  EXPECT_EQ(v->uncertaintyBasis, (std::vector<double>{0.25, -1.5, 1e-300}));  // exact round trip
}

TEST(ProjectStore, RefusedFilesStayByteIdentical) {
  test::TempDir dir;
  // A project written by a newer studio, in rollback-journal mode: switching it to WAL before
  // the version check used to rewrite its header although it was then refused.
  { ProjectStore::open(dir / "newer.caig"); }
  sqlite3* db = nullptr;
  sqlite3_open((dir / "newer.caig").c_str(), &db);
  sqlite3_exec(db, "PRAGMA journal_mode = DELETE; PRAGMA user_version = 99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  test::writeFile(dir / "garbage.caig", std::string(4096, 'x'));
  for (const char* name : {"newer.caig", "garbage.caig"}) {
    const std::string before = test::readFile(dir / name);
    EXPECT_THROW(ProjectStore::open(dir / name), StoreError) << name;
    EXPECT_EQ(test::readFile(dir / name), before) << name;
    EXPECT_FALSE(std::filesystem::exists(dir / (std::string(name) + "-wal"))) << name;
  }
}

TEST(ProjectStore, AnEmptyFileIsRefusedNotReplaced) {
  test::TempDir dir;
  test::writeFile(dir / "project.caig", "");
  try {
    ProjectStore::open(dir / "project.caig");
    FAIL() << "a 0-byte file became a new project";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("empty (0 bytes)"), std::string::npos) << e.what();
  }
  EXPECT_EQ(std::filesystem::file_size(dir / "project.caig"), 0u);
}

TEST(ProjectStore, ReadOnlyOpenChangesNothingAndRefusesWrites) {
  test::TempDir dir;
  {
    auto store = ProjectStore::open(dir / "p.caig");
    Product p;
    p.title = "Mug";
    p.imagePath = "products/a.png";
    store.addProduct(p);
  }
  const std::string before = test::readFile(dir / "p.caig");
  {
    auto store = ProjectStore::open(dir / "p.caig", ProjectStore::Access::ReadOnly);
    ASSERT_EQ(store.products().size(), 1u);
    EXPECT_EQ(store.products()[0].title, "Mug");
    EXPECT_THROW(store.transaction([] {}), StoreError);
    Product q;
    q.title = "Jar";
    EXPECT_THROW(store.addProduct(q), StoreError);  // SQLite refuses the write itself
  }
  EXPECT_EQ(test::readFile(dir / "p.caig"), before);
  EXPECT_THROW(ProjectStore::open(dir / "absent.caig", ProjectStore::Access::ReadOnly), StoreError);
  EXPECT_FALSE(std::filesystem::exists(dir / "absent.caig"));
}

TEST(ProjectStore, AWriterWaitsForAnotherInsteadOfFailing) {
  test::TempDir dir;
  { ProjectStore::open(dir / "p.caig"); }
  auto first = ProjectStore::open(dir / "p.caig");
  auto second = ProjectStore::open(dir / "p.caig");
  std::atomic<bool> holding{false};
  std::thread writer([&] {
    first.transaction([&] {
      Product p;
      p.title = "first";
      first.addProduct(p);
      holding = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(700));
    });
  });
  while (!holding) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // Reads first, then writes: a deferred transaction got SQLITE_BUSY here without waiting.
  second.transaction([&] {
    const auto n = second.products().size();
    Product p;
    p.title = "second after " + std::to_string(n);
    second.addProduct(p);
  });
  writer.join();
  const auto products = second.products();
  ASSERT_EQ(products.size(), 2u);
  EXPECT_EQ(products[1].title, "second after 1");  // it saw the first writer's committed row
}

TEST(ProjectStore, TextMustBeUtf8) {
  test::TempDir dir;
  auto store = ProjectStore::open(dir / "p.caig");
  Product p;
  p.title = "Caf\xe9";  // Latin-1
  EXPECT_THROW(store.addProduct(p), std::invalid_argument);
  p.title = "Caf\xc3\xa9";
  const int64_t id = store.addProduct(p);
  PromptRecord r;
  r.productId = id;
  r.text = "warm \xff light";
  EXPECT_THROW(store.addPrompt(r), std::invalid_argument);
  EXPECT_TRUE(store.prompts(id).empty());
}

}  // namespace
}  // namespace caig
