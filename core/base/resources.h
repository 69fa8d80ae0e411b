#pragma once
// Where the studio's data files (styles, templates, demo products) are: $CAIG_RESOURCE_DIR,
// else <prefix>/share/caig-studio next to an installed binary, else the source tree's
// resources/ (a build that has not been installed).

#include <filesystem>

namespace caig {

std::filesystem::path resourceDir();
std::filesystem::path demoProductShot();  // resources/demo/perfume.png

}  // namespace caig
