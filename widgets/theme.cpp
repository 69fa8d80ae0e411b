#include "widgets/theme.h"

#include <QApplication>
#include <QPalette>
#include <QSettings>
#include <QStyle>
#include <QStyleFactory>
#include <QWidget>

#include "widgets/icons.h"

namespace caig::ui {

namespace {

constexpr char kThemeKey[] = "ui/theme";

Theme applied = Theme::System;
// The platform's own style, remembered before the first switch to Fusion so System can return to it.
QString systemStyle;

struct Colours {
  QColor window, text, base, alternateBase, button, light, midlight, mid, dark, shadow, highlight, highlightedText,
      link, linkVisited, placeholder, tooltipBase, disabledText, disabledButton, disabledHighlight, brightText;
};

QPalette build(const Colours& c) {
  QPalette p;
  p.setColor(QPalette::Window, c.window);
  p.setColor(QPalette::WindowText, c.text);
  p.setColor(QPalette::Base, c.base);
  p.setColor(QPalette::AlternateBase, c.alternateBase);
  p.setColor(QPalette::ToolTipBase, c.tooltipBase);
  p.setColor(QPalette::ToolTipText, c.text);
  p.setColor(QPalette::PlaceholderText, c.placeholder);
  p.setColor(QPalette::Text, c.text);
  p.setColor(QPalette::Button, c.button);
  p.setColor(QPalette::ButtonText, c.text);
  p.setColor(QPalette::BrightText, c.brightText);
  p.setColor(QPalette::Light, c.light);
  p.setColor(QPalette::Midlight, c.midlight);
  p.setColor(QPalette::Mid, c.mid);
  p.setColor(QPalette::Dark, c.dark);
  p.setColor(QPalette::Shadow, c.shadow);
  p.setColor(QPalette::Highlight, c.highlight);
  p.setColor(QPalette::HighlightedText, c.highlightedText);
  p.setColor(QPalette::Link, c.link);
  p.setColor(QPalette::LinkVisited, c.linkVisited);
  // Disabled widgets: muted text everywhere, a quiet selection.
  for (auto role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText, QPalette::PlaceholderText}) {
    p.setColor(QPalette::Disabled, role, c.disabledText);
  }
  p.setColor(QPalette::Disabled, QPalette::Button, c.disabledButton);
  p.setColor(QPalette::Disabled, QPalette::Highlight, c.disabledHighlight);
  p.setColor(QPalette::Disabled, QPalette::HighlightedText, c.disabledText);
  // Inactive windows keep their selection colour (Fusion would otherwise grey it out).
  p.setColor(QPalette::Inactive, QPalette::Highlight, c.highlight);
  p.setColor(QPalette::Inactive, QPalette::HighlightedText, c.highlightedText);
  return p;
}

// Style sheets resolve palette(...) colours once, when applied: set them again so that they take
// the new palette's colours. Queued, because widgets receive the new palette through posted events.
void refreshStyleSheets() {
  for (QWidget* w : QApplication::allWidgets()) {
    const QString sheet = w->styleSheet();
    if (!sheet.contains(QLatin1String("palette("))) continue;
    w->setStyleSheet(QString());
    w->setStyleSheet(sheet);
  }
}

}  // namespace

QPalette lightPalette() {
  Colours c;
  c.window = QColor(0xf3, 0xf4, 0xf6);
  c.text = QColor(0x1d, 0x21, 0x27);
  c.base = Qt::white;
  c.alternateBase = QColor(0xf6, 0xf7, 0xf9);
  c.button = QColor(0xe9, 0xeb, 0xee);
  c.light = Qt::white;
  c.midlight = QColor(0xf0, 0xf1, 0xf3);
  c.mid = QColor(0x73, 0x7a, 0x84);  // also hint text (palette(mid) in style sheets): 4:1 on the window
  c.dark = QColor(0x5f, 0x66, 0x6f);  // also the secondary text of notes and job states
  c.shadow = QColor(0x4a, 0x50, 0x59);
  c.highlight = QColor(0x2f, 0x6f, 0xd0);  // the accent
  c.highlightedText = Qt::white;
  c.link = QColor(0x1f, 0x5f, 0xbf);
  c.linkVisited = QColor(0x6a, 0x45, 0xb8);
  c.placeholder = QColor(0x80, 0x86, 0x90);
  c.tooltipBase = QColor(0xff, 0xfb, 0xe8);
  c.disabledText = QColor(0xa2, 0xa7, 0xae);
  c.disabledButton = QColor(0xee, 0xef, 0xf1);
  c.disabledHighlight = QColor(0xc5, 0xcb, 0xd3);
  c.brightText = QColor(0xd0, 0x30, 0x30);
  return build(c);
}

QPalette darkPalette() {
  Colours c;
  c.window = QColor(0x2a, 0x2e, 0x35);
  c.text = QColor(0xe4, 0xe7, 0xeb);
  c.base = QColor(0x1e, 0x21, 0x27);
  c.alternateBase = QColor(0x25, 0x29, 0x30);
  c.button = QColor(0x36, 0x3b, 0x44);
  c.light = QColor(0x4a, 0x50, 0x5a);
  c.midlight = QColor(0x3e, 0x43, 0x4c);
  // Mid and Dark double as secondary text colours in the studio's style sheets (palette(mid),
  // palette(dark)), so they stay readable on the dark window instead of going near-black.
  c.mid = QColor(0x8d, 0x94, 0x9e);
  c.dark = QColor(0x9a, 0xa1, 0xab);
  c.shadow = QColor(0x0e, 0x10, 0x13);
  c.highlight = QColor(0x3d, 0x84, 0xe6);  // the accent, the same hue as in Light
  c.highlightedText = Qt::white;
  c.link = QColor(0x7a, 0xb4, 0xff);
  c.linkVisited = QColor(0xb8, 0x9c, 0xf5);
  c.placeholder = QColor(0x86, 0x8d, 0x97);
  c.tooltipBase = QColor(0x36, 0x3b, 0x44);
  c.disabledText = QColor(0x6c, 0x72, 0x7c);
  c.disabledButton = QColor(0x30, 0x34, 0x3b);
  c.disabledHighlight = QColor(0x3e, 0x43, 0x4c);
  c.brightText = QColor(0xff, 0x7b, 0x72);
  return build(c);
}

void applyTheme(QApplication& app, Theme theme) {
  if (systemStyle.isEmpty() && app.style()) systemStyle = app.style()->name();
  if (theme == Theme::System) {
    if (applied != Theme::System) {  // leaving our theme: the platform's style and its palette
      app.setStyle(QStyleFactory::create(systemStyle.isEmpty() ? QStringLiteral("Fusion") : systemStyle));
      app.setPalette(app.style()->standardPalette());
    }
  } else {
    if (app.style()->name().compare(QLatin1String("fusion"), Qt::CaseInsensitive) != 0) {
      app.setStyle(QStyleFactory::create(QStringLiteral("Fusion")));
    }
    app.setPalette(theme == Theme::Dark ? darkPalette() : lightPalette());
  }
  applied = theme;
  refreshIcons();
  QMetaObject::invokeMethod(&app, &refreshStyleSheets, Qt::QueuedConnection);
}

Theme currentTheme() { return applied; }

Theme savedTheme() { return themeFromName(QSettings().value(kThemeKey).toString()); }

void saveTheme(Theme theme) { QSettings().setValue(kThemeKey, themeName(theme)); }

QString themeName(Theme theme) {
  switch (theme) {
    case Theme::Light: return QStringLiteral("light");
    case Theme::Dark: return QStringLiteral("dark");
    case Theme::System: break;
  }
  return QStringLiteral("system");
}

Theme themeFromName(const QString& name) {
  if (name == QLatin1String("light")) return Theme::Light;
  if (name == QLatin1String("dark")) return Theme::Dark;
  return Theme::System;
}

}  // namespace caig::ui
