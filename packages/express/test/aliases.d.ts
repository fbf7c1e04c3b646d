// The Express 4 alias installed for the peer-range tests has no types of its own; it has the same API shape.
declare module "express4" {
  import express from "express";
  export default express;
}
