#include "widgets/icons.h"

#include <QAbstractButton>
#include <QAction>
#include <QApplication>
#include <QDir>
#include <QFile>
#include <QPainter>
#include <QPalette>
#include <QPixmap>
#include <QSvgRenderer>
#include <QWidget>

namespace caig::ui {

namespace {

constexpr char kIconProperty[] = "caigIconName";

// A dark palette (any theme: ours or the system's) needs light icons.
bool darkPalette(const QPalette& palette) {
  return palette.color(QPalette::Window).lightness() < 128;
}

QPixmap render(QSvgRenderer& svg, int side, qreal ratio, const QColor& tint) {
  const int pixels = qRound(side * ratio);
  QImage image(pixels, pixels, QImage::Format_ARGB32_Premultiplied);
  image.fill(Qt::transparent);
  QPainter painter(&image);
  painter.setRenderHint(QPainter::Antialiasing);
  svg.render(&painter, QRectF(0, 0, pixels, pixels));
  if (tint.isValid()) {  // keep the drawn coverage, replace its colour
    painter.setCompositionMode(QPainter::CompositionMode_SourceIn);
    painter.fillRect(image.rect(), tint);
  }
  painter.end();
  QPixmap pixmap = QPixmap::fromImage(image);
  pixmap.setDevicePixelRatio(ratio);
  return pixmap;
}

}  // namespace

QIcon icon(const QString& name) {
  const QString path = QStringLiteral(":/icons/%1.svg").arg(name);
  if (name.isEmpty() || !QFile::exists(path)) {
    qWarning("caig::ui::icon: no icon named '%s'", qPrintable(name));
    return {};
  }
  QSvgRenderer svg(path);
  if (!svg.isValid()) {
    qWarning("caig::ui::icon: cannot read %s", qPrintable(path));
    return {};
  }
  const QPalette palette = QApplication::palette();
  const QColor tint = darkPalette(palette) ? palette.color(QPalette::WindowText) : QColor();
  // Our own disabled look: the style's generated one barely dims light icons on a dark window.
  const QColor disabledTint = palette.color(QPalette::Disabled, QPalette::WindowText);
  QIcon result;
  // Menus (16), toolbars (24), large buttons (32, 48), each at 1x and 2x.
  for (int side : {16, 24, 32, 48}) {
    for (qreal ratio : {1.0, 2.0}) {
      result.addPixmap(render(svg, side, ratio, tint), QIcon::Normal);
      result.addPixmap(render(svg, side, ratio, disabledTint), QIcon::Disabled);
    }
  }
  return result;
}

QStringList iconNames() {
  QStringList names;
  for (const QString& file : QDir(QStringLiteral(":/icons")).entryList({QStringLiteral("*.svg")}, QDir::Files)) {
    names << file.chopped(4);
  }
  return names;
}

void setIcon(QAction* action, const QString& name) {
  if (!action) return;
  action->setProperty(kIconProperty, name);
  action->setIcon(icon(name));
}

void setIcon(QAbstractButton* button, const QString& name) {
  if (!button) return;
  button->setProperty(kIconProperty, name);
  button->setIcon(icon(name));
}

void refreshIcons(QObject* root) {
  QObjectList roots;
  if (root) {
    roots << root;
  } else {
    for (QWidget* w : QApplication::topLevelWidgets()) roots << w;
  }
  for (QObject* r : roots) {
    QList<QObject*> objects = r->findChildren<QObject*>();
    objects.prepend(r);
    for (QObject* o : objects) {
      const QString name = o->property(kIconProperty).toString();
      if (name.isEmpty()) continue;
      if (auto* action = qobject_cast<QAction*>(o)) action->setIcon(icon(name));
      else if (auto* button = qobject_cast<QAbstractButton*>(o)) button->setIcon(icon(name));
    }
  }
}

}  // namespace caig::ui
