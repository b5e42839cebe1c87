@testable import SwiftletStatic
import Testing

@Suite("103 Early Hints (RFC 8297): the links an HTML page's 103 carries")
struct EarlyHintsTests {
    static func links(_ html: String, directory: String = "") -> [String] {
        Array(html.utf8).withUnsafeBytes { EarlyHints.links(in: $0, directory: Array(directory.utf8)) }
    }

    @Test("stylesheets and scripts, absolute and relative to the page's directory, in document order")
    func stylesheetsAndScripts() {
        let page = """
            <!doctype html><html><head>
            <link rel="stylesheet" href="/site.css">
            <LINK REL=Stylesheet HREF='theme.css'>
            <script src="app.js" defer></script>
            <script type="module" src="./main.mjs"></script>
            </head><body><script src="../lib/x.js?v=2#top"></script></body></html>
            """
        #expect(Self.links(page, directory: "blog/") == [
            "</site.css>; rel=preload; as=style",
            "</blog/theme.css>; rel=preload; as=style",
            "</blog/app.js>; rel=preload; as=script",
            "</blog/main.mjs>; rel=modulepreload",
            "</lib/x.js?v=2>; rel=preload; as=script",
        ])
    }

    @Test("what is not hinted: other origins, other rels, data blocks, nomodule, comments, script text, above the root")
    func notHinted() {
        let page = """
            <link rel=stylesheet href="https://cdn.example/a.css"><link rel=stylesheet href="//cdn.example/b.css">
            <link rel="alternate stylesheet" href="/alt.css"><link rel=icon href=/favicon.ico>
            <link rel=stylesheet href="data:text/css,body{}"><link rel=stylesheet>
            <script type="application/ld+json" src="/data.json"></script><script nomodule src="/legacy.js"></script>
            <!-- <script src="/commented.js"></script> -->
            <script>document.write('<script src="/written.js"><\\/script>')</script>
            <style>/* <link rel=stylesheet href=/in-style.css> */</style>
            <script src="../../above.js"></script><script src="/a b.js"></script><script src="/x<y.js"></script>
            """
        #expect(Self.links(page, directory: "docs/") == [])
    }

    @Test("crossorigin carries over; duplicates are hinted once; at most linkLimit links")
    func crossoriginDuplicatesAndLimit() {
        #expect(Self.links("<script src=/a.js crossorigin></script><script src=/a.js crossorigin></script>"
                           + "<link rel=stylesheet href=/b.css crossorigin=use-credentials>") == [
            "</a.js>; rel=preload; as=script; crossorigin",
            "</b.css>; rel=preload; as=style; crossorigin=use-credentials",
        ])
        let many = (0..<40).map { "<script src=/s\($0).js></script>" }.joined()
        let hinted = Self.links(many)
        #expect(hinted.count == EarlyHints.linkLimit)
        #expect(hinted.first == "</s0.js>; rel=preload; as=script")
    }

    @Test("a <base> element: only absolute paths are hinted")
    func base() {
        #expect(Self.links("<base href=/other/><link rel=stylesheet href=a.css><script src=/b.js></script>")
                == ["</b.js>; rel=preload; as=script"])
    }

    @Test("dot segments (RFC 3986 §5.2.4) and a truncated document")
    func resolutionAndTruncation() {
        func resolve(_ url: String, _ directory: String) -> String? {
            EarlyHints.resolve(Array(url.utf8), directory: Array(directory.utf8), relativeAllowed: true)
                .map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(resolve("a/./b/../c.js", "d/") == "/d/a/c.js")
        #expect(resolve("..", "d/") == "/")
        #expect(resolve("/./x/.", "") == "/x/")
        #expect(resolve("../x.js", "") == nil)
        #expect(resolve("mailto:x@y", "") == nil)
        #expect(resolve("?q", "d/") == nil, "no path: the page itself")
        #expect(Self.links("<link rel=stylesheet href=/a.css><script src=\"/b.js") == ["</a.css>; rel=preload; as=style"])
        #expect(Self.links("<script>never closed <link rel=stylesheet href=/a.css>") == [])
    }
}
