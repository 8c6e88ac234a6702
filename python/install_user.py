"""Makes `import earshot` work for this interpreter: writes earshot.pth (the path of the built
package) into the user's site-packages. Usage: python3 install_user.py BUILD_DIR/python"""
import os
import site
import sys

target = os.path.abspath(sys.argv[1])
if not os.path.isfile(os.path.join(target, "earshot", "__init__.py")):
    sys.exit(f"install_user.py: {target}/earshot is not built yet")
user_site = site.getusersitepackages()
os.makedirs(user_site, exist_ok=True)
pth = os.path.join(user_site, "earshot.pth")
with open(pth, "w", encoding="utf-8") as f:
    f.write(target + "\n")
print(f"wrote {pth} -> {target}; `{sys.executable} -c 'import earshot'` now works")
