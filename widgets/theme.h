#pragma once
// Light and dark studio themes: the Fusion style with our own palette, or the platform's look
// (System). The choice is kept in QSettings under "ui/theme".

#include <QString>

class QApplication;
class QPalette;

namespace caig::ui {

enum class Theme { System, Light, Dark };

// Applies the theme to the whole application and redraws the studio's icons for it.
void applyTheme(QApplication& app, Theme theme);
// The theme applied last (System before any call).
Theme currentTheme();

// The palettes behind Light and Dark.
QPalette lightPalette();
QPalette darkPalette();

// The stored choice (System when none or unreadable) and storing one.
Theme savedTheme();
void saveTheme(Theme theme);

// "system", "light", "dark" and back (unknown names give System).
QString themeName(Theme theme);
Theme themeFromName(const QString& name);

}  // namespace caig::ui
