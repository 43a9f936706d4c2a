# Sourced by the scripts that build against a Debian source package (firmware/mbedtls-m4,
# firmware/psa-m4, bench/wolfssl). `debian_source PACKAGE SUITE WORK` fetches the package's
# source from SUITE into WORK/src once, with a private apt state in WORK (the system's apt
# sources and lists are untouched), and sets `version` to the Debian version fetched.
debian_source() {
    local pkg=$1 suite=$2 work=$3
    mkdir -p "$work/lists" "$work/sources"
    if [ ! -d "$work/src" ]; then
        cat > "$work/sources/deb-src.sources" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        local apt=(apt-get -o Dir::Etc::SourceList=/dev/null
                   -o "Dir::Etc::SourceParts=$work/sources" -o "Dir::State::Lists=$work/lists")
        (cd "$work" && "${apt[@]}" update -qq && "${apt[@]}" source --download-only "$pkg")
        mkdir "$work/src" &&
            tar xzf "$work/${pkg}"_*.orig.tar.gz -C "$work/src" --strip-components=1
    fi
    version=$(cd "$work" && ls "${pkg}"_*.dsc | sed "s/^${pkg}_\(.*\)\.dsc$/\1/")
}
