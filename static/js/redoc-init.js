"use strict";
// Starts ReDoc on /api/redoc/ (templates/drf_spectacular/redoc.html) from a file, as the page's
// CSP allows no inline script; nothing it shows comes from another host.
(function () {
  // ReDoc's menu ends with "API docs by Redocly" and Redocly's logo, which it fetches from
  // cdn.redoc.ly (CSP img-src 'self' data: refuses it): an empty image instead. React sets
  // an <img>'s src both ways, as an attribute and then as a property.
  const redoclyLogo = "https://cdn.redoc.ly/redoc/logo-mini.svg";
  const emptyImage = "data:image/svg+xml,%3Csvg%20xmlns='http://www.w3.org/2000/svg'/%3E";
  const local = (url) => (url === redoclyLogo ? emptyImage : url);
  const image = HTMLImageElement.prototype;
  const src = Object.getOwnPropertyDescriptor(image, "src");
  Object.defineProperty(image, "src", {
    ...src,
    set(url) {
      src.set.call(this, local(url));
    },
  });
  const setAttribute = Element.prototype.setAttribute;
  image.setAttribute = function (name, value) {
    return setAttribute.call(this, name, name.toLowerCase() === "src" ? local(value) : value);
  };

  // The <style> elements ReDoc adds as it renders (styled-components) take the nonce it is
  // handed here, the one this <script> element carries.
  const container = document.getElementById("redoc-container");
  const settings = JSON.parse(container.dataset.settings || "{}");
  settings.nonce = document.currentScript.nonce;
  Redoc.init(container.dataset.schemaUrl, settings, container);
})();
