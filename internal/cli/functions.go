package cli

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/nimbus-dev/nimbus/internal/config"
)

const functionsUsage = `usage:
  nimbus functions list
  nimbus functions get NAME
  nimbus functions create NAME --runtime R --handler H (--zip FILE | --dir DIR) [--timeout S] [--memory MB] [--env K=V,…]
  nimbus functions update-code NAME (--zip FILE | --dir DIR)
  nimbus functions delete NAME`

func functionsCmd(ctx context.Context, args []string, getenv config.Getenv, stdio IO) error {
	if len(args) == 0 {
		fmt.Fprintln(stdio.Stderr, functionsUsage)
		return ErrUsage
	}
	fset := flag.NewFlagSet("functions "+args[0], flag.ContinueOnError)
	fset.SetOutput(stdio.Stderr)
	c := config.ClientFlags(fset, getenv)
	runtime := fset.String("runtime", "", "runtime, e.g. nodejs20.x, python3.11, provided.al2023")
	handler := fset.String("handler", "", "handler, e.g. index.handler (provided runtimes: any, e.g. bootstrap)")
	zipFile := fset.String("zip", "", "deployment package (.zip)")
	dir := fset.String("dir", "", "directory to package as the deployment zip")
	timeout := fset.Int("timeout", 0, "timeout in seconds (default 3)")
	memory := fset.Int("memory", 0, "memory in MB (default 128)")
	envVars := fset.String("env", "", "environment variables K=V,…")
	pos, err := parse(fset, args[1:])
	if err != nil {
		return err
	}
	cl := newClient(c)
	name := func() (string, error) {
		if len(pos) != 1 {
			fmt.Fprintln(stdio.Stderr, functionsUsage)
			return "", ErrUsage
		}
		return pos[0], nil
	}
	switch args[0] {
	case "list":
		return listFunctions(ctx, cl, stdio)
	case "get":
		n, err := name()
		if err != nil {
			return err
		}
		out, err := cl.GetFunctionConfiguration(ctx, &awslambda.GetFunctionConfigurationInput{FunctionName: &n})
		if err != nil {
			return apiError(err)
		}
		return printJSON(stdio, out)
	case "delete":
		n, err := name()
		if err != nil {
			return err
		}
		if _, err := cl.DeleteFunction(ctx, &awslambda.DeleteFunctionInput{FunctionName: &n}); err != nil {
			return apiError(err)
		}
		fmt.Fprintf(stdio.Stdout, "deleted %s\n", n)
		return nil
	case "create", "update-code":
		n, err := name()
		if err != nil {
			return err
		}
		code, err := packageCode(*zipFile, *dir)
		if err != nil {
			return err
		}
		if args[0] == "update-code" {
			out, err := cl.UpdateFunctionCode(ctx, &awslambda.UpdateFunctionCodeInput{FunctionName: &n, ZipFile: code})
			if err != nil {
				return apiError(err)
			}
			return printJSON(stdio, out)
		}
		in := &awslambda.CreateFunctionInput{
			FunctionName: &n,
			Runtime:      types.Runtime(*runtime),
			Handler:      handler,
			Role:         aws.String("arn:aws:iam::000000000000:role/lambda-role"),
			Code:         &types.FunctionCode{ZipFile: code},
		}
		if *timeout > 0 {
			in.Timeout = aws.Int32(int32(*timeout))
		}
		if *memory > 0 {
			in.MemorySize = aws.Int32(int32(*memory))
		}
		if *envVars != "" {
			vars := map[string]string{}
			for _, kv := range strings.Split(*envVars, ",") {
				k, v, _ := strings.Cut(kv, "=")
				vars[k] = v
			}
			in.Environment = &types.Environment{Variables: vars}
		}
		out, err := cl.CreateFunction(ctx, in)
		if err != nil {
			return apiError(err)
		}
		return printJSON(stdio, out)
	}
	fmt.Fprintln(stdio.Stderr, functionsUsage)
	return ErrUsage
}

func listFunctions(ctx context.Context, cl *awslambda.Client, stdio IO) error {
	tw := tabwriter.NewWriter(stdio.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tRUNTIME\tMEMORY\tTIMEOUT\tLAST MODIFIED")
	p := awslambda.NewListFunctionsPaginator(cl, &awslambda.ListFunctionsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return apiError(err)
		}
		for _, f := range page.Functions {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", aws.ToString(f.FunctionName), f.Runtime, aws.ToInt32(f.MemorySize), aws.ToInt32(f.Timeout), aws.ToString(f.LastModified))
		}
	}
	return tw.Flush()
}

func printJSON(stdio IO, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	stdio.Stdout.Write(append(b, '\n'))
	return nil
}

// packageCode returns a zip file's bytes, or zips a directory (keeping executable bits).
func packageCode(zipFile, dir string) ([]byte, error) {
	switch {
	case zipFile != "" && dir != "":
		return nil, fmt.Errorf("give --zip or --dir, not both")
	case zipFile != "":
		return os.ReadFile(zipFile)
	case dir != "":
		return ZipDir(dir)
	}
	return nil, fmt.Errorf("give the code with --zip FILE or --dir DIR")
}

// ZipDir zips the contents of dir (paths relative to it, modes kept).
func ZipDir(dir string) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		h, err := zip.FileInfoHeader(info)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		h.Method = zip.Deflate
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
