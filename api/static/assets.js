// Loading a script or stylesheet when a page first needs it (Leaflet, for the dashboard's overview map and the
// list's drawing map): a promise settled when the browser has it, rejected naming the file it could not load.
window.registryAsset = function (tag, attributes) {
  "use strict";
  return new Promise((resolve, reject) => {
    const element = Object.assign(document.createElement(tag), attributes);
    element.onload = resolve;
    element.onerror = () => reject(new Error(`${attributes.src || attributes.href} did not load`));
    document.head.append(element);
  });
};
