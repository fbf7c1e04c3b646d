// The Koa 2 alias installed for the peer-range tests has no types of its own; it has the same API shape.
declare module "koa2" {
  import Koa from "koa";
  export default Koa;
}
