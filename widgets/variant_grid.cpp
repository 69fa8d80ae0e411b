#include "widgets/variant_grid.h"
#include "models/io/json_file.h"

#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QImageReader>
#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QSplitter>
#include <QTextBrowser>
#include <QVBoxLayout>
#include <algorithm>
#include <nlohmann/json.hpp>

#include "widgets/icons.h"

namespace caig::ui {

namespace {

QString label(const VariantView& view) {
  const caig::Variant& v = view.variant;
  QString text = view.style.isEmpty() ? QObject::tr("seed %1").arg(v.seed) : view.style;
  if (v.rank) text = QObject::tr("#%1 · %2").arg(*v.rank).arg(text);
  if (v.favourite) text += QStringLiteral(" ★");
  if (v.score) text += QObject::tr("\nscore %1").arg(*v.score, 0, 'f', 2);
  if (v.winProbability) text += QObject::tr(" · P %1").arg(*v.winProbability, 0, 'f', 2);
  return text;
}

QString row(const QString& name, const QString& value) {
  return QStringLiteral("<tr><td style='color:gray;padding-right:8px'>%1</td><td>%2</td></tr>").arg(name, value);
}

}  // namespace

VariantGrid::VariantGrid(QWidget* parent) : QWidget(parent) {
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
  auto* actions = new QHBoxLayout;
  for (QPushButton* b : {favourite_, sameSeed_, compare_, export_}) actions->addWidget(b);
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
  showDetails();
}

void VariantGrid::setSort(Sort sort) { sort_->setCurrentIndex(static_cast<int>(sort)); }

void VariantGrid::setVariants(std::vector<VariantView> variants) {
  variants_ = std::move(variants);
  refill();
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
  if (r.score) {
    QString score = QString::number(*r.score, 'f', 3);
    if (v->stdError) score += QStringLiteral(" ± %1").arg(*v->stdError, 0, 'f', 3);
    html += row(tr("Score"), score);
  }
  if (r.winProbability) html += row(tr("P(beats original)"), QString::number(*r.winProbability, 'f', 3));
  html += row(tr("Prompt"), v->prompt.toHtmlEscaped());
  html += row(tr("Engine"), v->engine);
  html += row(tr("Seed"), QString::number(r.seed));
  html += row(tr("Size"), QStringLiteral("%1 × %2").arg(size.width()).arg(size.height()));
  if (v->renderSeconds) html += row(tr("Render time"), tr("%1 s").arg(*v->renderSeconds, 0, 'f', 2));
  html += row(tr("Ranker"), r.rankerId.empty() ? tr("—") : QString::fromStdString(r.rankerId));
  html += row(tr("Favourite"), r.favourite ? tr("yes") : tr("no"));
  html += QStringLiteral("</table><pre style='font-size:small'>%1</pre>")
              .arg(QString::fromStdString(params.is_discarded() ? r.paramsJson : params.dump(2)).toHtmlEscaped());
  details_->setHtml(html);
}

}  // namespace caig::ui
