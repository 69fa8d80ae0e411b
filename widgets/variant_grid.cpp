#include "widgets/variant_grid.h"
#include "models/io/json_file.h"

#include <QAction>
#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QImageReader>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QSplitter>
#include <QTextBrowser>
#include <QVBoxLayout>
#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/ranking/variant_ranking.h"
#include "widgets/icons.h"

namespace caig::ui {

namespace {

QString row(const QString& name, const QString& value) {
  return QStringLiteral("<tr><td style='color:gray;padding-right:8px'>%1</td><td>%2</td></tr>").arg(name, value);
}

QString q(const std::string& s) {
  return QString::fromStdString(s);
}

// A parameter's value as a person reads it: text unquoted, numbers as written, lists and
// objects on one line.
QString paramText(const nlohmann::json& v) {
  if (v.is_string()) return q(v.get<std::string>());
  if (v.is_boolean()) return v.get<bool>() ? QObject::tr("yes") : QObject::tr("no");
  if (v.is_object()) {
    QStringList parts;
    for (const auto& [k, x] : v.items()) parts << QStringLiteral("%1 %2").arg(q(k), paramText(x));
    return parts.join(QStringLiteral(", "));
  }
  if (v.is_array()) {
    QStringList parts;
    for (const auto& x : v) parts << paramText(x);
    return parts.join(QStringLiteral(", "));
  }
  return q(v.dump());
}

QColor verdictColour(caig::Verdict v) {
  switch (v) {
    case caig::Verdict::LikelyBetter: return QColor(0x1e, 0x84, 0x49);
    case caig::Verdict::LikelyWorse: return QColor(0xc0, 0x39, 0x2b);
    case caig::Verdict::NoClearDifference: break;
  }
  return {};
}

}  // namespace

VariantGrid::VariantGrid(QWidget* parent) : QWidget(parent) {
  rankerNote_ = new QLabel(this);
  rankerNote_->setObjectName("rankerNote");
  rankerNote_->setWordWrap(true);
  rankerNote_->setTextFormat(Qt::PlainText);
  rankerNote_->hide();
  rerank_ = new QPushButton(tr("Re-rank"), this);
  rerank_->setObjectName("rerankButton");
  rerank_->setToolTip(tr("Rank this product's variants again with the active ranker"));
  rerank_->hide();
  auto* note = new QHBoxLayout;
  note->addWidget(rankerNote_, 1);
  note->addWidget(rerank_, 0, Qt::AlignTop);
  baseline_ = new QComboBox(this);
  baseline_->setObjectName("liftBaseline");
  baseline_->addItem(tr("Lift over the original"));
  baseline_->addItem(tr("Lift over the best variant"));
  baseline_->setToolTip(
      tr("Predicted CTR lift of each variant over the plain product shot, or over the "
         "best-ranked variant, with its 95 % interval"));
  sort_ = new QComboBox(this);
  sort_->setObjectName("variantSort");
  sort_->addItem(tr("Best rank first"));
  sort_->addItem(tr("Highest score first"));
  sort_->addItem(tr("Newest first"));
  favouritesOnly_ = new QCheckBox(tr("★ only"), this);
  favouritesOnly_->setObjectName("favouritesOnly");
  search_ = new QLineEdit(this);
  search_->setObjectName("variantSearch");
  search_->setPlaceholderText(tr("Search prompts…"));
  search_->setClearButtonEnabled(true);
  auto* filters = new QHBoxLayout;
  filters->addWidget(baseline_);
  filters->addWidget(sort_);
  filters->addWidget(favouritesOnly_);
  filters->addWidget(search_, 1);

  list_ = new QListWidget(this);
  list_->setObjectName("variantList");
  list_->setViewMode(QListView::IconMode);
  list_->setIconSize(QSize(128, 128));
  list_->setGridSize(QSize(150, 180));
  list_->setResizeMode(QListView::Adjust);
  list_->setMovement(QListView::Static);
  list_->setWordWrap(true);
  list_->setSelectionMode(QAbstractItemView::ExtendedSelection);

  auto button = [this](const QString& text, const QString& name, const QString& tip) {
    auto* b = new QPushButton(text, this);
    b->setObjectName(name);
    b->setToolTip(tip);
    return b;
  };
  favourite_ = button(tr("Favourite"), "favouriteButton", tr("Mark the selected variants as favourites"));
  favourite_->setCheckable(true);
  sameSeed_ = button(tr("Same Seed Again"), "sameSeedButton", tr("Queue the job again with the same parameters"));
  compare_ = button(tr("Compare"), "compareButton", tr("Compare two or more selected variants"));
  export_ = button(tr("Export…"), "exportButton", tr("Export the selected variants at ad sizes"));
  delete_ =
      button(tr("Delete…"), "deleteVariantsButton", tr("Delete the selected variants and their image files (Delete)"));
  auto* actions = new QHBoxLayout;
  for (QPushButton* b : {favourite_, sameSeed_, compare_, export_, delete_}) actions->addWidget(b);
  setIcon(favourite_, QStringLiteral("favourite"));
  setIcon(compare_, QStringLiteral("compare"));
  setIcon(export_, QStringLiteral("export"));

  details_ = new QTextBrowser(this);
  details_->setObjectName("variantDetails");
  details_->setPlaceholderText(tr("Generated backgrounds with their predicted CTR rank appear here. "
                                  "Select one to see its parameters."));

  auto* top = new QWidget(this);
  auto* topLayout = new QVBoxLayout(top);
  topLayout->setContentsMargins(0, 0, 0, 0);
  topLayout->addLayout(note);
  topLayout->addLayout(filters);
  topLayout->addWidget(list_, 1);
  topLayout->addLayout(actions);
  auto* split = new QSplitter(Qt::Vertical, this);
  split->addWidget(top);
  split->addWidget(details_);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 1);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(split);

  connect(sort_, &QComboBox::currentIndexChanged, this, &VariantGrid::refill);
  connect(baseline_, &QComboBox::currentIndexChanged, this, &VariantGrid::refill);
  connect(rerank_, &QPushButton::clicked, this, [this] { Q_EMIT rerankRequested(); });
  connect(favouritesOnly_, &QCheckBox::toggled, this, &VariantGrid::refill);
  connect(search_, &QLineEdit::textChanged, this, &VariantGrid::refill);
  connect(list_, &QListWidget::currentItemChanged, this, [this](QListWidgetItem* item) {
    if (item) Q_EMIT variantShown(item->data(Qt::UserRole).toLongLong());
  });
  connect(list_, &QListWidget::itemSelectionChanged, this, &VariantGrid::showDetails);
  connect(favourite_, &QPushButton::clicked, this, [this](bool on) {
    for (qint64 id : selectedIds()) Q_EMIT favouriteToggled(id, on);
  });
  connect(sameSeed_, &QPushButton::clicked, this, [this] {
    for (qint64 id : selectedIds()) Q_EMIT sameSeedRequested(id);
  });
  connect(compare_, &QPushButton::clicked, this, [this] { Q_EMIT compareRequested(selectedIds()); });
  connect(export_, &QPushButton::clicked, this, [this] { Q_EMIT exportRequested(selectedIds()); });
  connect(delete_, &QPushButton::clicked, this, [this] {
    if (!selectedIds().isEmpty()) Q_EMIT deleteRequested(selectedIds());
  });
  // The Delete key and a right click act on the selection, only while the grid has the focus (the
  // Prompts dock has a Delete of its own).
  auto* deleteKey = new QAction(tr("Delete…"), list_);
  deleteKey->setObjectName("deleteVariantsAction");
  deleteKey->setShortcut(QKeySequence::Delete);
  deleteKey->setShortcutContext(Qt::WidgetWithChildrenShortcut);
  connect(deleteKey, &QAction::triggered, delete_, &QPushButton::click);
  auto menuAction = [this](const QString& text, QPushButton* b) {
    auto* a = new QAction(text, list_);
    connect(a, &QAction::triggered, b, &QPushButton::click);
    list_->addAction(a);
  };
  menuAction(tr("Favourite"), favourite_);
  menuAction(tr("Same Seed Again"), sameSeed_);
  menuAction(tr("Compare"), compare_);
  menuAction(tr("Export…"), export_);
  list_->addAction(deleteKey);
  list_->setContextMenuPolicy(Qt::ActionsContextMenu);
  showDetails();
}

void VariantGrid::setSort(Sort sort) { sort_->setCurrentIndex(static_cast<int>(sort)); }

void VariantGrid::setLiftBaseline(LiftBaseline baseline) {
  baseline_->setCurrentIndex(static_cast<int>(baseline));
}

void VariantGrid::setVariants(std::vector<VariantView> variants) {
  variants_ = std::move(variants);
  updateRankerNote();
  refill();
}

void VariantGrid::setRanker(const caig::ActiveRanker& ranker) {
  ranker_ = ranker;
  updateRankerNote();
}

void VariantGrid::updateRankerNote() {
  if (!ranker_) return;
  QString text = q(caig::rankerNote(*ranker_));
  // Ranks that another ranker made (the prior, before a training run) are offered again.
  int stale = 0;
  for (const auto& v : variants_) stale += v.variant.rank && !caig::rankedBy(v.variant.rankerId, *ranker_);
  if (stale > 0) text += tr("\n%n of these variants were ranked by another ranker.", nullptr, stale);
  rankerNote_->setText(text);
  rankerNote_->setToolTip(q(ranker_->status));
  rankerNote_->setStyleSheet(ranker_->calibrated ? QStringLiteral("color: palette(dark);")
                                                 : QStringLiteral("color: #b9770e;"));
  rankerNote_->setVisible(!variants_.empty());
  rerank_->setVisible(stale > 0);
}

const VariantView* VariantGrid::best() const {
  const VariantView* top = nullptr;
  for (const auto& v : variants_) {
    if (v.variant.rank && (!top || *v.variant.rank < *top->variant.rank)) top = &v;
  }
  return top;
}

std::optional<caig::CtrLift> VariantGrid::lift(const VariantView& v) const {
  if (static_cast<LiftBaseline>(baseline_->currentIndex()) == LiftBaseline::Original) {
    return caig::liftOverOriginal(v.variant);
  }
  const VariantView* top = best();
  if (!top || top == &v) return std::nullopt;
  return caig::liftBetween(v.variant, top->variant);
}

QString VariantGrid::label(const VariantView& view) const {
  const caig::Variant& v = view.variant;
  QString text = view.style.isEmpty() ? tr("seed %1").arg(v.seed) : view.style;
  if (v.rank) text = tr("#%1 · %2").arg(*v.rank).arg(text);
  if (v.favourite) text += QStringLiteral(" ★");
  const bool overOriginal = static_cast<LiftBaseline>(baseline_->currentIndex()) == LiftBaseline::Original;
  if (const auto l = lift(view)) {
    text += (overOriginal ? tr("\n%1 over original") : tr("\n%1 over #1")).arg(q(caig::formatLift(l->lift)));
    text += QStringLiteral("\n") + tr(caig::verdictText(l->verdict));
  } else if (!overOriginal && best() == &view) {
    text += tr("\nbest variant");
  } else if (v.rank) {
    text += tr("\nre-rank for the lift");
  }
  return text;
}

const VariantView* VariantGrid::view(qint64 id) const {
  for (const auto& v : variants_) {
    if (v.variant.id == id) return &v;
  }
  return nullptr;
}

QList<qint64> VariantGrid::selectedIds() const {
  QList<qint64> ids;
  for (int i = 0; i < list_->count(); ++i) {  // display order, not click order
    if (list_->item(i)->isSelected()) ids << list_->item(i)->data(Qt::UserRole).toLongLong();
  }
  return ids;
}

QList<qint64> VariantGrid::shownIds() const {
  QList<qint64> ids;
  for (int i = 0; i < list_->count(); ++i) ids << list_->item(i)->data(Qt::UserRole).toLongLong();
  return ids;
}

void VariantGrid::refill() {
  const QList<qint64> selected = selectedIds();
  std::vector<const VariantView*> shown;
  const QString needle = search_->text().trimmed();
  for (const auto& v : variants_) {
    if (favouritesOnly_->isChecked() && !v.variant.favourite) continue;
    if (!needle.isEmpty() && !v.prompt.contains(needle, Qt::CaseInsensitive)) continue;
    shown.push_back(&v);
  }
  const auto sort = static_cast<Sort>(sort_->currentIndex());
  std::stable_sort(shown.begin(), shown.end(), [sort](const VariantView* a, const VariantView* b) {
    const caig::Variant &x = a->variant, &y = b->variant;
    switch (sort) {
      case Sort::Rank: return x.rank.value_or(1 << 30) < y.rank.value_or(1 << 30);  // unranked last
      case Sort::Score: return x.score.value_or(-1e300) > y.score.value_or(-1e300);
      case Sort::Newest: return x.id > y.id;
    }
    return false;
  });
  const QSignalBlocker block(list_);  // refilling must not switch the canvas to a variant
  list_->clear();
  for (const VariantView* v : shown) {
    QImageReader reader(v->imagePath);
    reader.setScaledSize(reader.size().scaled(128, 128, Qt::KeepAspectRatio));
    auto* item = new QListWidgetItem(QIcon(QPixmap::fromImage(reader.read())), label(*v), list_);
    if (const auto l = lift(*v); l && l->verdict != caig::Verdict::NoClearDifference) {
      item->setForeground(verdictColour(l->verdict));
    }
    item->setData(Qt::UserRole, static_cast<qlonglong>(v->variant.id));
    item->setToolTip(v->prompt);
    item->setSelected(selected.contains(v->variant.id));
  }
  showDetails();
}

void VariantGrid::showDetails() {
  const QList<qint64> ids = selectedIds();
  favourite_->setEnabled(!ids.isEmpty());
  sameSeed_->setEnabled(!ids.isEmpty());
  export_->setEnabled(!ids.isEmpty());
  delete_->setEnabled(!ids.isEmpty());
  compare_->setEnabled(ids.size() >= 2);
  const VariantView* v = ids.size() == 1 ? view(ids.front()) : nullptr;
  favourite_->setChecked(!ids.isEmpty() && std::all_of(ids.begin(), ids.end(), [this](qint64 id) {
                           const VariantView* x = view(id);
                           return x && x->variant.favourite;
                         }));
  if (!v) {
    details_->setHtml(ids.isEmpty() ? QString() : tr("<i>%1 variants selected</i>").arg(ids.size()));
    return;
  }
  const caig::Variant& r = v->variant;
  const QSize size = QImageReader(v->imagePath).size();
  const auto params = io::parseJsonOrDiscarded(r.paramsJson);
  QString html = QStringLiteral("<table>");
  html += row(tr("Rank"), r.rank ? QString::number(*r.rank) : tr("not ranked yet"));
  if (const auto l = caig::liftOverOriginal(r)) {
    html += row(
        tr("CTR lift over the original"),
        tr("<b>%1</b> — %2").arg(q(caig::formatLiftInterval(*l)).toHtmlEscaped(), tr(caig::verdictText(l->verdict))));
  }
  if (const VariantView* top = best(); top && top != v) {
    if (const auto l = caig::liftBetween(r, top->variant)) {
      html += row(tr("CTR lift over #1"), tr("%1 — %2").arg(q(caig::formatLiftInterval(*l)).toHtmlEscaped(),
                                                            tr(caig::verdictText(l->verdict))));
    }
  }
  if (r.winProbability) html += row(tr("P(beats original)"), QString::number(*r.winProbability, 'f', 2));
  if (r.score) {
    QString score = QString::number(*r.score, 'f', 3);
    if (v->stdError) score += QStringLiteral(" ± %1").arg(*v->stdError, 0, 'f', 3);
    html += row(tr("Score"), score);
  }
  QString ranker = r.rankerId.empty() ? tr("—") : q(r.rankerId);
  if (ranker_ && !r.rankerId.empty() && !caig::rankedBy(r.rankerId, *ranker_)) ranker += tr(" (not the active ranker)");
  html += row(tr("Ranked by"), ranker);
  html += row(tr("Prompt"), v->prompt.toHtmlEscaped());
  html += row(tr("Engine"), v->engine);
  html += row(tr("Seed"), QString::number(r.seed));
  html += row(tr("Size"), QStringLiteral("%1 × %2").arg(size.width()).arg(size.height()));
  if (v->renderSeconds) html += row(tr("Render time"), tr("%1 s").arg(*v->renderSeconds, 0, 'f', 2));
  html += row(tr("Favourite"), r.favourite ? tr("yes") : tr("no"));
  html += QStringLiteral("</table>");
  // Every parameter it was made with, one per row (the prompt, engine and seed are above).
  if (params.is_object()) {
    QString table;
    for (const auto& [key, value] : params.items()) {
      if (key == "prompt" || key == "engine" || key == "seed") continue;
      table += row(q(key).toHtmlEscaped(), paramText(value).toHtmlEscaped());
    }
    if (!table.isEmpty()) html += tr("<p style='margin-bottom:2px'><b>Parameters</b></p><table>%1</table>").arg(table);
  }
  details_->setHtml(html);
}

}  // namespace caig::ui
