#include "widgets/compare_view.h"

#include <QGuiApplication>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QImageReader>
#include <QLabel>
#include <QListWidget>
#include <QScreen>
#include <QScrollArea>
#include <QTableWidget>
#include <QVBoxLayout>

#include "core/ranking/compare_math.h"
#include "core/ranking/variant_ranking.h"

namespace caig::ui {

namespace {

QString name(const VariantView& v) {
  const QString rank = v.variant.rank ? QStringLiteral("#%1").arg(*v.variant.rank) : QObject::tr("unranked");
  return v.style.isEmpty() ? rank : rank + QStringLiteral(" ") + v.style;
}

// Red (0) through white (0.5) to green (1): who wins at a glance.
QColor scale(double p) {
  const double t = std::clamp(p, 0.0, 1.0);
  const QColor lo(0xe7, 0x4c, 0x3c), mid(0xfa, 0xfa, 0xfa), hi(0x27, 0xae, 0x60);
  const QColor& a = t < 0.5 ? lo : mid;
  const QColor& b = t < 0.5 ? mid : hi;
  const double u = t < 0.5 ? t * 2 : (t - 0.5) * 2;
  return QColor::fromRgbF(float(a.redF() + (b.redF() - a.redF()) * u), float(a.greenF() + (b.greenF() - a.greenF()) * u),
                          float(a.blueF() + (b.blueF() - a.blueF()) * u));
}

// P(A beats B) with its interval, the same numbers as the lift (core liftBetween: the ranker's own
// uncertainty where it has one).
caig::WinEstimate estimate(const VariantView& a, const VariantView& b) {
  const auto e = caig::logitBetween(a.variant, b.variant);
  if (!e) return {};
  return caig::winProbability(e->logit, e->stdError, 0.0, 0.0);
}

}  // namespace

CompareView::CompareView(std::vector<VariantView> batch, const QList<qint64>& selected,
                         const caig::ActiveRanker& ranker, QWidget* parent)
    : QDialog(parent), batch_(std::move(batch)) {
  setObjectName("compareView");
  setWindowTitle(tr("Compare Variants"));
  for (const auto& v : batch_) {
    if (v.variant.score) ranked_.push_back(&v);
  }
  std::sort(ranked_.begin(), ranked_.end(), [](auto* a, auto* b) { return *a->variant.rank < *b->variant.rank; });

  rankerNote_ = new QLabel(QString::fromStdString(caig::rankerNote(ranker)));
  rankerNote_->setObjectName("compareRankerNote");
  rankerNote_->setWordWrap(true);
  rankerNote_->setTextFormat(Qt::PlainText);
  rankerNote_->setStyleSheet(ranker.calibrated ? QStringLiteral("color: palette(dark);")
                                               : QStringLiteral("color: #b9770e; font-weight: bold;"));
  scroll_ = new QScrollArea;
  scroll_->setWidgetResizable(true);
  pairs_ = new QLabel;
  pairs_->setObjectName("pairSummary");
  pairs_->setWordWrap(true);

  // The batch's pairwise matrix: row beats column.
  matrix_ = new QTableWidget(static_cast<int>(ranked_.size()), static_cast<int>(ranked_.size()));
  matrix_->setObjectName("pairwiseMatrix");
  matrix_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  QStringList headers;
  for (const VariantView* v : ranked_) headers << name(*v);
  matrix_->setHorizontalHeaderLabels(headers);
  matrix_->setVerticalHeaderLabels(headers);
  for (int i = 0; i < matrix_->rowCount(); ++i) {
    for (int j = 0; j < matrix_->columnCount(); ++j) {
      auto* item = new QTableWidgetItem(i == j ? QStringLiteral("–") : QString());
      if (i != j) {
        const caig::WinEstimate w = estimate(*ranked_[i], *ranked_[j]);
        item->setText(QString::number(w.p, 'f', 2));
        item->setToolTip(tr("P(row beats column) %1, 95 % interval %2 – %3").arg(w.p, 0, 'f', 3).arg(w.low, 0, 'f', 3).arg(w.high, 0, 'f', 3));
        item->setBackground(scale(w.p));
        item->setForeground(Qt::black);
      }
      item->setTextAlignment(Qt::AlignCenter);
      matrix_->setItem(i, j, item);
    }
  }
  // A small batch fills the width; a large one keeps readable columns and scrolls.
  matrix_->horizontalHeader()->setSectionResizeMode(ranked_.size() <= 8 ? QHeaderView::Stretch
                                                                       : QHeaderView::ResizeToContents);
  matrix_->verticalHeader()->setSectionResizeMode(ranked_.size() <= 8 ? QHeaderView::Stretch
                                                                     : QHeaderView::ResizeToContents);

  matrix_->setMinimumHeight(120);
  matrix_->setToolTip(tr("Click a cell to put that pair side by side"));
  connect(matrix_, &QTableWidget::cellClicked, this, [this](int row, int column) {
    if (row == column || row < 0 || column < 0) return;
    showVariants({ranked_[static_cast<std::size_t>(row)]->variant.id, ranked_[static_cast<std::size_t>(column)]->variant.id});
  });

  // What to A/B test next.
  std::vector<double> scores;
  for (const VariantView* v : ranked_) {
    scores.push_back(*v->variant.score);
  }
  testNext_ = new QListWidget;
  testNext_->setObjectName("testNext");
  testNext_->setMinimumHeight(90);
  const auto pairEstimate = [this](std::size_t a, std::size_t b) { return estimate(*ranked_[a], *ranked_[b]); };
  for (const auto& pair : caig::mostInformativePairs(scores, pairEstimate, 5)) {
    testNext_->addItem(tr("%1  vs  %2\n    P %3, 95 % interval %4 – %5 · priority %6")
                           .arg(name(*ranked_[pair.a]), name(*ranked_[pair.b]))
                           .arg(pair.estimate.p, 0, 'f', 2)
                           .arg(pair.estimate.low, 0, 'f', 2)
                           .arg(pair.estimate.high, 0, 'f', 2)
                           .arg(pair.priority, 0, 'f', 3));
  }
  auto* why = new QLabel(tr("Test next: the pairs whose outcome is least certain among strong variants — "
                            "priority = interval width × exp(mean score of the pair − best score)."));
  why->setWordWrap(true);
  why->setStyleSheet("color: palette(dark);");

  auto* bottom = new QHBoxLayout;
  auto* left = new QVBoxLayout;
  left->addWidget(new QLabel(tr("<b>Pairwise P(row beats column)</b>")));
  left->addWidget(matrix_);
  auto* right = new QVBoxLayout;
  right->addWidget(new QLabel(tr("<b>Test next</b>")));
  right->addWidget(testNext_);
  right->addWidget(why);
  bottom->addLayout(left, 3);
  bottom->addLayout(right, 2);
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(rankerNote_);
  layout->addWidget(scroll_);
  layout->addWidget(pairs_);
  layout->addLayout(bottom, 1);
  shown_ = selected;
  const QScreen* screen = parent ? parent->screen() : QGuiApplication::primaryScreen();
  fitToScreen(screen ? screen->availableGeometry() : QRect(0, 0, 1280, 720));
}

void CompareView::showVariants(const QList<qint64>& ids) {
  shown_ = ids;
  std::vector<const VariantView*> chosen;
  for (qint64 id : ids) {
    for (const auto& v : batch_) {
      if (v.variant.id == id) chosen.push_back(&v);
    }
  }
  // Side by side.
  auto* strip = new QWidget;
  auto* stripLayout = new QHBoxLayout(strip);
  for (const VariantView* v : chosen) {
    auto* cell = new QVBoxLayout;
    auto* image = new QLabel;
    image->setObjectName("compareThumbnail");
    QImageReader reader(v->imagePath);
    reader.setScaledSize(reader.size().scaled(thumbSide_, thumbSide_, Qt::KeepAspectRatio));
    image->setPixmap(QPixmap::fromImage(reader.read()));
    QString caption = QStringLiteral("<b>%1</b>").arg(name(*v).toHtmlEscaped());
    if (const auto l = caig::liftOverOriginal(v->variant)) {
      caption += tr("<br>%1 CTR over the original<br><small>%2 · %3</small>")
                     .arg(QString::fromStdString(caig::formatLift(l->lift)),
                          QString::fromStdString(caig::formatLiftInterval(*l)).toHtmlEscaped(),
                          tr(caig::verdictText(l->verdict)));
    } else if (v->variant.score) {
      caption += tr("<br>score %1 (rank again for the lift)").arg(*v->variant.score, 0, 'f', 2);
    }
    auto* text = new QLabel(caption);
    text->setWordWrap(true);
    text->setMaximumWidth(std::max(thumbSide_, 200));
    cell->addWidget(image);
    cell->addWidget(text);
    stripLayout->addLayout(cell);
  }
  stripLayout->addStretch(1);
  scroll_->setWidget(strip);  // deletes the previous strip

  // Every pair shown, with its interval.
  QStringList lines;
  for (std::size_t i = 0; i < chosen.size(); ++i) {
    for (std::size_t j = i + 1; j < chosen.size(); ++j) {
      const VariantView &a = *chosen[i], &b = *chosen[j];
      if (!a.variant.score || !b.variant.score) {
        lines << tr("%1 vs %2: not ranked yet").arg(name(a), name(b));
        continue;
      }
      const caig::WinEstimate w = estimate(a, b);
      const caig::CtrLift l = *caig::liftBetween(a.variant, b.variant);
      lines << tr("%1 over %2: predicted CTR <b>%3</b> (95 % interval %4 to %5), <b>%6</b> · "
                  "P(%1 beats %2) %7")
                   .arg(name(a).toHtmlEscaped(), name(b).toHtmlEscaped(),
                        QString::fromStdString(caig::formatLift(l.lift)),
                        QString::fromStdString(caig::formatLift(l.low)),
                        QString::fromStdString(caig::formatLift(l.high)), tr(caig::verdictText(l.verdict)))
                   .arg(w.p, 0, 'f', 2);
    }
  }
  pairs_->setText(lines.join("<br>"));
}

void CompareView::fitToScreen(const QRect& available) {
  // The matrix, the list, the ranker note and the labels need about 520 px; the thumbnails get
  // what is left.
  thumbSide_ = std::clamp(available.height() - 520, 120, 280);
  scroll_->setMinimumHeight(thumbSide_ + 70);
  showVariants(shown_);
  resize(std::min(1100, available.width() - 40), std::min(820, available.height() - 40));
}

}  // namespace caig::ui
